//! Host callbacks in either calling convention. The `om_*` entries take cdecl callbacks, the
//! `oms_*` entries ([`super::stdcall`]) stdcall ones (what VB6's `AddressOf` gives); the library
//! keeps and calls both through one type per callback kind, made by [`host_fn!`]. On every
//! target but 32-bit Windows the two conventions are the same machine code.

/// `host_fn!(Name(arg: Type, ...) -> Ret)` defines `enum Name { C(..), System(..) }`, the
/// callback in its cdecl (`extern "C"`) or stdcall (`extern "system"`) form, with `call`.
macro_rules! host_fn {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub enum $name {
            /// From an `om_*` entry: cdecl.
            C(unsafe extern "C" fn($($ty),*) $(-> $ret)?),
            /// From an `oms_*` entry: stdcall on 32-bit Windows.
            System(unsafe extern "system" fn($($ty),*) $(-> $ret)?),
        }

        impl $name {
            /// Calls the host's function in its own convention.
            ///
            /// # Safety
            /// The arguments must be what the host's callback type documents.
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn call(self, $($arg: $ty),*) $(-> $ret)? {
                match self {
                    $name::C(f) => f($($arg),*),
                    $name::System(f) => f($($arg),*),
                }
            }
        }
    };
}

pub(crate) use host_fn;

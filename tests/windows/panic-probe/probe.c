/* Loads panic_probe.dll and calls probe_panic (tests/windows/panic-probe/lib.rs): prints
   "probe_panic=N" (6 when the panic was caught after unwinding five frames). A process that
   dies instead prints nothing. */
#include <stdio.h>
#include <windows.h>

int main(void) {
    HMODULE dll = LoadLibraryA("panic_probe.dll");
    if (!dll) { printf("LoadLibrary failed: %lu\n", GetLastError()); return 2; }
    typedef unsigned (*probe_fn)(void);
    probe_fn probe = (probe_fn)(void (*)(void))GetProcAddress(dll, "probe_panic");
    if (!probe) { printf("probe_panic not exported\n"); return 2; }
    unsigned n = probe();
    printf("probe_panic=%u\n", n);
    n = probe();  /* a second time: the unwinder's state survived the first */
    printf("probe_panic=%u\n", n);
    return 0;
}

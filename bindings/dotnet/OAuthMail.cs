// OAuthMail.cs — the .NET binding of oauthmail (include/oauthmail.h).
//
// Two layers, as in libgit2sharp and wasmtime-dotnet:
//   - Native: one [DllImport] per function of the header, same names, exact C types,
//     CallingConvention.Cdecl everywhere (the x86 default would be StdCall), and one
//     [UnmanagedFunctionPointer(Cdecl)] delegate per callback type.
//   - OAuthMailLibrary / OAuthMailAccount / OAuthMailException: the idiomatic layer, with
//     Task-returning wrappers of the long calls (cancellation calls om_account_cancel) and
//     OAuthMailNativeLibrary, which loads the DLL of the process's bitness from x64\ or x86\
//     (AnyCPU programs on Windows) before the first P/Invoke.
//
// Rules kept throughout:
//   - Strings in: UTF-8, NUL-terminated, in an AllocHGlobal buffer freed after the call.
//   - Strings the library owns (char ** out): IntPtr, decoded, then om_string_free — never
//     marshalled as `string` (the runtime would free them with CoTaskMemFree).
//   - Borrowed strings (om_last_error_*, om_version, om_status_*): decoded, never freed.
//   - The thread-local last error is read right after the failed call, on the same thread,
//     before anything else can call into the library (including a deferred om_account_free).
//   - Managed exceptions never cross into native code: callbacks catch them, and they are
//     rethrown once the native call has returned.
//
// C# 5 only (compiles with Mono's mcs and csc for .NET Framework 4.5+; also .NET 6+).

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace OAuthMail
{
    /// <summary>
    /// The OM_STATUS_* values of include/oauthmail.h (stable: never renumbered).
    /// <see cref="OAuthMailException.Status"/> is one of them, <see cref="OAuthMailException.StatusCode"/>
    /// the same as an int (<c>(int)status</c> too). A newer library may add values: keep a default branch.
    /// </summary>
    public enum OAuthMailStatus
    {
        Ok = 0,
        InvalidArgument = 1,
        InvalidConfig = 2,
        InvalidHandle = 3,
        NotInitialized = 4,
        Pending = 5,
        Timeout = 6,
        Cancelled = 7,
        AuthorizationRequired = 8,
        AccessDenied = 9,
        ProviderError = 10,
        NetworkError = 11,
        TlsError = 12,
        PortInUse = 13,
        StateMismatch = 14,
        WrongState = 15,
        ReentrantCall = 16,
        IoError = 17,
        StaleTokens = 18,
        Unsupported = 19,
        ProtocolError = 20,
        LoginRejected = 21,
        /// <summary>
        /// The tokens are shared (token_file, or a token store: <see cref="OAuthMailAccount.SetTokenStore"/>)
        /// and another process held their lock too long while refreshing them: nothing was changed, try again later.
        /// </summary>
        TokensLocked = 22,
        /// <summary>
        /// The connection died after a message was completely sent, before the server confirmed it:
        /// it may have been delivered, and it was NOT sent again. Do not resend it automatically
        /// (it could arrive twice): let the user check the Sent folder or ask the recipient.
        /// </summary>
        DeliveryUnknown = 23,
        Panic = 99,
    }

    /// <summary>OM_LOG_* levels.</summary>
    public static class OAuthMailLogLevel
    {
        public const int Error = 0;
        public const int Warn = 1;
        public const int Info = 2;
        public const int Debug = 3;
    }

    /// <summary>What a fetch handler returns (OM_FETCH_*).</summary>
    public enum FetchAction
    {
        /// <summary>Accept the message: the fetch state advances past it.</summary>
        Continue = 0,
        /// <summary>Stop; this message is not accepted and comes again next time.</summary>
        Stop = 1,
        /// <summary>Failed with this message: the fetch stops (Cancelled), the message is not accepted.</summary>
        Error = 2,
    }

    /// <summary>
    /// A failed oauthmail call: the status and the calling thread's last error. <see cref="Exception.Message"/>
    /// is the library's whole message (om_last_error_message: what happened, the provider's or
    /// server's text in brackets, " — " and the hint), to show as it is; <see cref="Detail"/> and
    /// <see cref="Hint"/> are those parts alone, for separate fields — never append them to Message.
    /// Serializable (BinaryFormatter, remoting, AppDomains) with its status, detail and hint.
    /// </summary>
    [Serializable]
    public class OAuthMailException : Exception
    {
        private readonly OAuthMailStatus _status;
        private readonly string _statusName;
        private readonly string _hint;
        private readonly string _detail;

        public OAuthMailException(OAuthMailStatus status, string message, string detail, string hint, Exception inner)
            : base(string.IsNullOrEmpty(message) ? OAuthMailLibrary.StatusDescription(status) : message, inner)
        {
            _status = status;
            _statusName = OAuthMailLibrary.StatusName(status);
            _detail = detail ?? "";
            _hint = hint ?? "";
        }

        public OAuthMailException(int status, string message, string detail, string hint, Exception inner)
            : this((OAuthMailStatus)status, message, detail, hint, inner)
        {
        }

        /// <summary>Deserialization: the status, its name, the detail and the hint come back as they were.</summary>
#if NET8_0_OR_GREATER
        [Obsolete("Formatter-based serialization is obsolete", DiagnosticId = "SYSLIB0051")]
#endif
        protected OAuthMailException(SerializationInfo info, StreamingContext context)
            : base(info, context)
        {
            _status = (OAuthMailStatus)info.GetInt32("OAuthMail.Status");
            _statusName = info.GetString("OAuthMail.StatusName") ?? "";
            _detail = info.GetString("OAuthMail.Detail") ?? "";
            _hint = info.GetString("OAuthMail.Hint") ?? "";
        }

        /// <summary>Serialization: the base exception's data plus the status, its name, the detail and the hint.</summary>
#if NET8_0_OR_GREATER
        [Obsolete("Formatter-based serialization is obsolete", DiagnosticId = "SYSLIB0051")]
#endif
        public override void GetObjectData(SerializationInfo info, StreamingContext context)
        {
            if (info == null) throw new ArgumentNullException("info");
            base.GetObjectData(info, context);
            info.AddValue("OAuthMail.Status", (int)_status);
            info.AddValue("OAuthMail.StatusName", _statusName);
            info.AddValue("OAuthMail.Detail", _detail);
            info.AddValue("OAuthMail.Hint", _hint);
        }

        /// <summary>The OM_STATUS_* value.</summary>
        public OAuthMailStatus Status { get { return _status; } }
        /// <summary>The same as an int (the header's OM_STATUS_* number).</summary>
        public int StatusCode { get { return (int)_status; } }
        /// <summary>e.g. "OM_STATUS_INVALID_CONFIG".</summary>
        public string StatusName { get { return _statusName; } }
        /// <summary>Who must do what ("" when none), in the account's language. Already in Message.</summary>
        public string Hint { get { return _hint; } }
        /// <summary>The provider's or server's own error text ("" when none). Already in Message.</summary>
        public string Detail { get { return _detail; } }

        /// <summary>
        /// True for OM_STATUS_DELIVERY_UNKNOWN: the message may have been delivered and was not
        /// sent again. Do not resend it automatically.
        /// </summary>
        public bool DeliveryUnknown { get { return _status == OAuthMailStatus.DeliveryUnknown; } }

        /// <summary>
        /// "OM_STATUS_…: message" (for logs). The message is already whole (what happened, the
        /// provider's text in brackets, " — " and the hint): Detail and Hint are not appended again.
        /// </summary>
        public override string ToString()
        {
            var sb = new StringBuilder();
            sb.Append(StatusName).Append(": ").Append(Message);
            if (InnerException != null) sb.Append(" ---> ").Append(InnerException);
            return sb.ToString();
        }

        /// <summary>Reads the thread's last error. Call right after the failed native call.</summary>
        internal static OAuthMailException FromLastError(int status, Exception inner)
        {
            // Borrowed strings, valid until the next oauthmail call on this thread: read all
            // three before anything else (om_status_name does not touch the last error).
            string message = Utf8.FromNative(Native.om_last_error_message());
            string detail = Utf8.FromNative(Native.om_last_error_detail());
            string hint = Utf8.FromNative(Native.om_last_error_hint());
            return new OAuthMailException((OAuthMailStatus)status, message, detail, hint, inner);
        }
    }

    /// <summary>Reference-counted start/stop of the library, version, status names, log.</summary>
    public static class OAuthMailLibrary
    {
        /// <summary>OM_VERSION_NUMBER of the header this binding was written against.</summary>
        public const uint HeaderVersionNumber = 100;

        // One thunk (and one free thunk) for the process lifetime: native code may hold their
        // pointers on any thread (library threads included), so they are never collected. The
        // handler itself is found through the callback's user data, an id in s_logHandlers,
        // which the library's free function (OnLogFree) removes once no thread runs it any more.
        private static readonly Native.om_log_cb s_logThunk = OnLog;
        private static readonly Native.om_free_cb s_logFreeThunk = OnLogFree;
        private static readonly Dictionary<long, Action<int, string>> s_logHandlers = new Dictionary<long, Action<int, string>>();
        private static long s_nextLogId;

        /// <summary>om_init: starts the library's threads (first call); later calls only count.</summary>
        public static void Init()
        {
            Check(Native.om_init());
        }

        /// <summary>om_shutdown: drops one Init reference; the last one stops the threads.</summary>
        public static void Shutdown()
        {
            Check(Native.om_shutdown());
        }

        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string Version { get { return Utf8.FromNative(Native.om_version()); } }

        /// <summary>MAJOR*10000 + MINOR*100 + PATCH; compare with <see cref="HeaderVersionNumber"/>.</summary>
        public static uint VersionNumber { get { return Native.om_version_number(); } }

        /// <summary>e.g. "OM_STATUS_TIMEOUT"; "OM_STATUS_UNKNOWN" for other values.</summary>
        public static string StatusName(OAuthMailStatus status)
        {
            return Utf8.FromNative(Native.om_status_name((int)status));
        }

        /// <summary>The same for a status as an int.</summary>
        public static string StatusName(int status)
        {
            return Utf8.FromNative(Native.om_status_name(status));
        }

        /// <summary>One-line English description of a status.</summary>
        public static string StatusDescription(OAuthMailStatus status)
        {
            return Utf8.FromNative(Native.om_status_description((int)status));
        }

        /// <summary>The same for a status as an int.</summary>
        public static string StatusDescription(int status)
        {
            return Utf8.FromNative(Native.om_status_description(status));
        }

        /// <summary>
        /// Installs (or with null removes) the log handler, receiving messages up to maxLevel.
        /// It may run on ANY thread, library threads included: return quickly, do not call
        /// blocking oauthmail functions (nor SetLogHandler), marshal UI work yourself. Exceptions
        /// it throws are dropped. When this returns, the previous handler is not running on any
        /// thread and will not be called again: what it uses may be disposed at once.
        /// </summary>
        public static void SetLogHandler(Action<int, string> handler, int maxLevel)
        {
            if (handler == null)
            {
                // the library calls OnLogFree for the previous handler before returning
                Check(Native.om_log_set_callback(null, maxLevel, IntPtr.Zero, null));
                return;
            }
            long id;
            lock (s_logHandlers)
            {
                id = ++s_nextLogId;
                s_logHandlers[id] = handler;
            }
            int status = Native.om_log_set_callback(s_logThunk, maxLevel, new IntPtr(id), s_logFreeThunk);
            if (status != Native.OM_STATUS_OK)
            {
                // refused (level out of range, called from the log handler): the library did not
                // take the user data and will not call the free function for it
                var ex = OAuthMailException.FromLastError(status, null);
                lock (s_logHandlers) s_logHandlers.Remove(id);
                throw ex;
            }
        }

        /// <summary>Log handlers the library still holds (0 or 1): for tests.</summary>
        internal static int LogHandlersAlive
        {
            get { lock (s_logHandlers) return s_logHandlers.Count; }
        }

        /// <summary>Sends a message through the library's log (om_log_write).</summary>
        public static void WriteLog(int level, string message)
        {
            using (var m = new Utf8Arg(message))
                Check(Native.om_log_write(level, m.Ptr));
        }

        private static void OnLog(IntPtr userData, int level, IntPtr message)
        {
            try
            {
                Action<int, string> h;
                lock (s_logHandlers) s_logHandlers.TryGetValue(userData.ToInt64(), out h);
                if (h != null) h(level, Utf8.FromNative(message));
            }
            catch (Exception)
            {
                // never let an exception cross into native code (it may be a library thread)
            }
        }

        // The library's free function for a handler's user data: it was replaced or removed.
        private static void OnLogFree(IntPtr userData)
        {
            try
            {
                lock (s_logHandlers) s_logHandlers.Remove(userData.ToInt64());
            }
            catch (Exception)
            {
            }
        }

        internal static void Check(int status)
        {
            if (status != Native.OM_STATUS_OK) throw OAuthMailException.FromLastError(status, null);
        }

        // --- message bytes from anywhere: no account, no network, no Init needed, any thread ---

        /// <summary>
        /// Parses RFC 5322 bytes (from Fetch, a .eml file, a database) into addresses with decoded
        /// names, the decoded subject, the date, the thread ids, the bodies and the attachment
        /// list (om_message_parse). Malformed mail still gives what could be read.
        /// </summary>
        public static ParsedMessage ParseMessage(byte[] data, bool includeText = true, bool includeHtml = true)
        {
            string options = includeText && includeHtml ? null
                : "{\"text\": " + (includeText ? "true" : "false") + ", \"html\": " + (includeHtml ? "true" : "false") + "}";
            return ParsedMessage.FromJson(ParseMessageJson(data, options));
        }

        /// <summary>The om_message_parse JSON itself (to store); optionsJson null = everything.</summary>
        public static string ParseMessageJson(byte[] data, string optionsJson = null)
        {
            if (data == null) throw new ArgumentNullException("data");
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr json;
                int st = Native.om_message_parse(data, new UIntPtr((uint)data.Length), opt.Ptr, out json);
                return TakeString(st, json);
            }
        }

        /// <summary>
        /// The decoded bytes of attachment <paramref name="index"/> (<see cref="AttachmentInfo.Index"/>);
        /// a message attached whole gives the attached message's bytes. No such index: an
        /// OAuthMailException with Status == InvalidArgument saying how many there are.
        /// </summary>
        public static byte[] GetAttachment(byte[] data, int index)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (index < 0) throw new ArgumentOutOfRangeException("index", "attachment indexes start at 0");
            IntPtr buffer;
            UIntPtr length;
            int st = Native.om_message_attachment(data, new UIntPtr((uint)data.Length), (uint)index, out buffer, out length);
            try
            {
                if (st != Native.OM_STATUS_OK) throw OAuthMailException.FromLastError(st, null);
                ulong n = length.ToUInt64();
                if (n > int.MaxValue) throw new InvalidOperationException("attachment larger than 2 GiB");
                var bytes = new byte[(int)n];
                if (n > 0) Marshal.Copy(buffer, bytes, 0, (int)n);
                return bytes;
            }
            finally
            {
                Native.om_buffer_free(buffer); // malloc'd by the library (NULL-safe): never FreeHGlobal
            }
        }

        /// <summary>
        /// Writes every attachment into <paramref name="directory"/> (must exist) under names made
        /// safe for every system, never replacing a file (" (2)" added); includeInline false skips
        /// the parts marked inline. Returns what was written. A missing directory or a failed write:
        /// OAuthMailException with Status == IoError (the files written before it stay).
        /// </summary>
        public static IList<SavedAttachment> SaveAttachments(byte[] data, string directory, bool includeInline = true)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (directory == null) throw new ArgumentNullException("directory");
            using (var dir = new Utf8Arg(directory))
            using (var opt = new Utf8Arg(includeInline ? null : "{\"inline\": false}"))
            {
                IntPtr json;
                int st = Native.om_message_save_attachments(data, new UIntPtr((uint)data.Length), dir.Ptr, opt.Ptr, out json);
                var saved = new List<SavedAttachment>();
                foreach (string item in OAuthMailJson.GetArrayItems(TakeString(st, json)))
                {
                    var o = new JsonMembers(item);
                    var a = new SavedAttachment();
                    a.Read(o);
                    a.Path = o.Str("path");
                    saved.Add(a);
                }
                return saved;
            }
        }

        /// <summary>Checks a call without an account and decodes, then frees, its library string.</summary>
        internal static string TakeString(int status, IntPtr owned)
        {
            try
            {
                if (status != Native.OM_STATUS_OK) throw OAuthMailException.FromLastError(status, null);
                return Utf8.FromNative(owned);
            }
            finally
            {
                Native.om_string_free(owned);
            }
        }
    }

    /// <summary>What the fetch handler gets besides the raw bytes (om_message, copied).</summary>
    public sealed class MailMessageInfo
    {
        /// <summary>IMAP: the UID. POP3: the message number in this session. Microsoft Graph: 0.</summary>
        public uint Uid { get; internal set; }
        /// <summary>The folder's UIDVALIDITY: (UidValidity, Uid) identifies the message for good (Graph: 0).</summary>
        public uint UidValidity { get; internal set; }
        /// <summary>Delivered again because the fetch state did not match the mailbox (IMAP: the folder's
        /// UIDVALIDITY changed; Graph: the delta link expired): compare Message-IDs.</summary>
        public bool Resync { get; internal set; }
        /// <summary>Size in bytes as the server reports it.</summary>
        public ulong Size { get; internal set; }
        /// <summary>When the server received it, Unix seconds (0 if unknown).</summary>
        public long InternalDate { get; internal set; }
        /// <summary>The folder name.</summary>
        public string Folder { get; internal set; }
        /// <summary>Space-separated flags ("" for POP3).</summary>
        public string Flags { get; internal set; }
        /// <summary>POP3: the UIDL. Microsoft Graph: the message id. "" for IMAP.</summary>
        public string Uidl { get; internal set; }

        /// <summary>
        /// The message parsed, when asked: the fetch option <c>"parse": true</c> (Fetch) or
        /// FetchMessages' <c>parse</c>; else null.
        /// </summary>
        public ParsedMessage Parsed { get; internal set; }

        /// <summary>The JSON <see cref="Parsed"/> was read from (to store as is), or null.</summary>
        public string ParsedJson { get; internal set; }

        /// <summary>InternalDate as a DateTimeOffset (UTC), or null when unknown.</summary>
        public DateTimeOffset? InternalDateUtc
        {
            get
            {
                if (InternalDate == 0) return null;
                return new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(InternalDate);
            }
        }
    }

    /// <summary>An om_account *: released with om_account_free.</summary>
    public sealed class AccountHandle : SafeHandle
    {
        // The token callback thunk lives as long as the native account: the marshaller keeps
        // this handle alive during every call (the only time the library can call it), and
        // ReleaseHandle frees the account before the handle can be collected.
        internal Native.om_token_cb TokenCallback;

        private static int s_live;

        public AccountHandle() : base(IntPtr.Zero, true) { }

        /// <summary>Accounts created and not yet freed in this process (a leak check for tests).</summary>
        public static int LiveCount { get { return Volatile.Read(ref s_live); } }

        internal void Track() { Interlocked.Increment(ref s_live); }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            int status = Native.om_account_free(handle);
            Interlocked.Decrement(ref s_live);
            TokenCallback = null;
            return status == Native.OM_STATUS_OK;
        }
    }

    /// <summary>An account: configuration, tokens, fetching and sending. Thread-safe like the C handle.</summary>
    public sealed class OAuthMailAccount : IDisposable
    {
        private readonly AccountHandle _handle;

        // Set by the token callback (which runs on the calling thread, inside the call) when a
        // TokensChanged handler throws; rethrown when that call returns.
        [ThreadStatic] private static Exception t_callbackException;

        /// <summary>
        /// Raised with the new token set JSON (as ExportTokens gives it) after the tokens
        /// changed. Runs on the thread of the call that saw the change, inside it: do not call
        /// this account from the handler. An exception it throws is rethrown by that call,
        /// after the call completed (the new tokens are then already in effect).
        /// </summary>
        public event EventHandler<string> TokensChanged;

        /// <summary>om_account_new from the configuration JSON (see the README). No Init needed.</summary>
        public OAuthMailAccount(string configJson)
        {
            AccountHandle h;
            int status;
            using (var cfg = new Utf8Arg(configJson))
                status = Native.om_account_new(cfg.Ptr, out h);
            if (status != Native.OM_STATUS_OK)
            {
                var ex = OAuthMailException.FromLastError(status, null);
                if (h != null) h.Dispose();
                throw ex;
            }
            _handle = h;
            _handle.Track();
            var cb = new Native.om_token_cb(OnTokens);
            _handle.TokenCallback = cb;
            status = Native.om_account_set_token_callback(_handle, cb, IntPtr.Zero, null);
            if (status != Native.OM_STATUS_OK)
            {
                var ex = OAuthMailException.FromLastError(status, null);
                _handle.Dispose();
                throw ex;
            }
        }

        /// <summary>The native handle (for advanced use with the Native layer).</summary>
        public AccountHandle Handle { get { return _handle; } }

        /// <summary>The effective configuration with secrets masked (om_account_config_json).</summary>
        public string GetConfigJson()
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_account_config_json(_handle, out json);
                return Finish(st, json);
            }
        }

        /// <summary>The registration check: a JSON array of findings (om_account_check).</summary>
        public string Check()
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_account_check(_handle, out json);
                return Finish(st, json);
            }
        }

        /// <summary>Connects and logs in to the incoming and outgoing servers: a JSON array of reports.</summary>
        public string ServersCheck(uint timeoutMs = 0)
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_servers_check(_handle, timeoutMs, out json);
                return Finish(st, json);
            }
        }

        /// <summary>
        /// Starts the browser authorization; returns the authorization URL (show it if the browser
        /// did not open). <paramref name="openBrowser"/> null (the default): nothing is sent and the
        /// account's configuration decides (<c>open_browser</c>, default true; an admin may have set
        /// it to false); true or false: this call opens the browser or not, whatever the configuration.
        /// Accounts without a user (<c>"flow": "service_account"</c>, a Google service account's
        /// key file, or <c>"client_credentials"</c>) have nothing to authorize: this and
        /// StartDeviceAuthorization throw with Status == WrongState, and GetAccessToken, Fetch
        /// and Send get their tokens by themselves.
        /// </summary>
        public string StartAuthorization(bool? openBrowser = null)
        {
            string options = null;
            if (openBrowser.HasValue) options = openBrowser.Value ? "{\"open_browser\": true}" : "{\"open_browser\": false}";
            return OAuthMailJson.GetString(StartAuthorizationJson(options), "authorization_url");
        }

        /// <summary>om_authorize_start with raw options; returns the whole result JSON.</summary>
        public string StartAuthorizationJson(string optionsJson)
        {
            using (Lease())
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr json;
                int st = Native.om_authorize_start(_handle, opt.Ptr, out json);
                return Finish(st, json);
            }
        }

        /// <summary>
        /// Waits up to timeoutMs: returns OAuthMailStatus.Ok (tokens stored) or
        /// OAuthMailStatus.Pending (call again); any other outcome throws.
        /// </summary>
        public OAuthMailStatus WaitAuthorization(uint timeoutMs)
        {
            using (Lease())
            {
                int st = Native.om_authorize_wait(_handle, timeoutMs);
                // PENDING is an answer, not an error (a TokensChanged exception is still rethrown).
                Finish(st == Native.OM_STATUS_PENDING ? Native.OM_STATUS_OK : st, IntPtr.Zero);
                return (OAuthMailStatus)st;
            }
        }

        /// <summary>Completes the authorization with the redirect URL the user pasted.</summary>
        public void CompleteAuthorization(string redirectUrl, uint timeoutMs = 0)
        {
            using (Lease())
            using (var url = new Utf8Arg(redirectUrl))
            {
                int st = Native.om_authorize_complete(_handle, url.Ptr, timeoutMs);
                Finish(st, IntPtr.Zero);
            }
        }

        /// <summary>Cancels the authorization in progress, if any.</summary>
        public void CancelAuthorization()
        {
            using (Lease())
                Finish(Native.om_authorize_cancel(_handle), IntPtr.Zero);
        }

        /// <summary>Starts the device authorization; returns {"user_code","verification_uri",…}.</summary>
        public string StartDeviceAuthorization(uint timeoutMs = 0)
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_device_start(_handle, timeoutMs, out json);
                return Finish(st, json);
            }
        }

        /// <summary>An access token valid for at least the refresh margin (refreshing if needed).</summary>
        public string GetAccessToken(uint timeoutMs = 0)
        {
            long expiresAt;
            return GetAccessToken(timeoutMs, out expiresAt);
        }

        /// <summary>Same, with the token's expiry in Unix seconds.</summary>
        public string GetAccessToken(uint timeoutMs, out long expiresAtUnix)
        {
            using (Lease())
            {
                IntPtr token;
                int st = Native.om_get_access_token(_handle, timeoutMs, out token, out expiresAtUnix);
                return Finish(st, token);
            }
        }

        /// <summary>The token set as JSON, for the host's database (contains secrets).</summary>
        public string ExportTokens()
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_tokens_export(_handle, out json);
                return Finish(st, json);
            }
        }

        /// <summary>Imports a token set; throws with Status == StaleTokens when it is older than the one held.</summary>
        public void ImportTokens(string tokensJson)
        {
            using (Lease())
            using (var t = new Utf8Arg(tokensJson))
                Finish(Native.om_tokens_import(_handle, t.Ptr), IntPtr.Zero);
        }

        /// <summary>
        /// Makes the host's own storage (a row of its database) the place where this mailbox's
        /// tokens are shared with other processes and workstations (om_account_set_token_store);
        /// null removes it. Before every refresh the library calls <see cref="ITokenStore.TryLock"/>
        /// (take your lock, give the stored set), uses a newer stored set instead of refreshing when
        /// another process already did, else refreshes, then calls <see cref="ITokenStore.Unlock"/>
        /// with the new set to save (null: nothing changed). Both run on the thread of the call that
        /// needs them, inside it. Do not also save tokens from TokensChanged: a save outside the
        /// lock could overwrite a newer set. Not with <c>token_file</c> (Status == WrongState).
        /// The account holds a reference to <paramref name="store"/> until it is replaced or
        /// removed, or the account disposed.
        /// </summary>
        public void SetTokenStore(ITokenStore store)
        {
            using (Lease())
            {
                if (store == null)
                {
                    Finish(Native.om_account_set_token_store(_handle, null, null, IntPtr.Zero, null), IntPtr.Zero);
                    return;
                }
                IntPtr id = TokenStoreBridge.Register(store);
                int st = Native.om_account_set_token_store(_handle, TokenStoreBridge.LockThunk, TokenStoreBridge.UnlockThunk,
                                                           id, TokenStoreBridge.FreeThunk);
                if (st != Native.OM_STATUS_OK)
                {
                    // Refused: the library did not take the user data (its free function is not
                    // called). Read the error first, then forget the bridge.
                    var ex = OAuthMailException.FromLastError(st, null);
                    TokenStoreBridge.Forget(id);
                    t_callbackException = null;
                    throw ex;
                }
                Finish(st, IntPtr.Zero);
            }
        }

        /// <summary>Revokes the tokens at the provider (where possible) and forgets them.</summary>
        public void RevokeTokens(uint timeoutMs = 0)
        {
            using (Lease())
                Finish(Native.om_tokens_revoke(_handle, timeoutMs), IntPtr.Zero);
        }

        /// <summary>
        /// Fetches mail, calling onMessage on this thread for each message (raw RFC 5322 bytes).
        /// Return Continue to accept it. If onMessage throws, the fetch stops, the message is not
        /// accepted (it comes again next time) and the exception is rethrown here once the native
        /// call has returned. Returns the summary JSON.
        /// </summary>
        public string Fetch(string optionsJson, Func<MailMessageInfo, byte[], FetchAction> onMessage)
        {
            if (onMessage == null) throw new ArgumentNullException("onMessage");
            var ctx = new FetchContext(onMessage);
            var cb = new Native.om_message_cb(ctx.Invoke);
            using (Lease())
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr summary;
                int st = Native.om_fetch(_handle, opt.Ptr, cb, IntPtr.Zero, out summary);
                GC.KeepAlive(cb); // the native code held its pointer until here
                if (ctx.Exception != null)
                {
                    // The handler threw: the native call returned OM_STATUS_CANCELLED and the
                    // message was not accepted. Rethrow the handler's own exception, stack kept.
                    t_callbackException = null;
                    Native.om_string_free(summary);
                    ExceptionDispatchInfo.Capture(ctx.Exception).Throw();
                }
                return Finish(st, summary);
            }
        }

        /// <summary>Fetches into .eml files in directory (must exist); returns the summary JSON with "files".</summary>
        public string FetchToDirectory(string directory, string optionsJson = null)
        {
            using (Lease())
            using (var opt = new Utf8Arg(optionsJson))
            using (var dir = new Utf8Arg(directory))
            {
                IntPtr summary;
                int st = Native.om_fetch_to_directory(_handle, opt.Ptr, dir.Ptr, out summary);
                return Finish(st, summary);
            }
        }

        /// <summary>The IMAP folders as a JSON array of {"name","delimiter","attributes"}.</summary>
        public string ListFolders(uint timeoutMs = 0)
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_folders_list(_handle, timeoutMs, out json);
                return Finish(st, json);
            }
        }

        /// <summary>The fetch state as JSON, for the host to keep with the account.</summary>
        public string ExportSyncState()
        {
            using (Lease())
            {
                IntPtr json;
                int st = Native.om_sync_state_export(_handle, out json);
                return Finish(st, json);
            }
        }

        /// <summary>Replaces the fetch state by one exported earlier.</summary>
        public void ImportSyncState(string stateJson)
        {
            using (Lease())
            using (var s = new Utf8Arg(stateJson))
                Finish(Native.om_sync_state_import(_handle, s.Ptr), IntPtr.Zero);
        }

        /// <summary>Composes a message from JSON and sends it; returns the result JSON.</summary>
        public string Send(string messageJson, string optionsJson = null)
        {
            using (Lease())
            using (var msg = new Utf8Arg(messageJson))
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr result;
                int st = Native.om_send(_handle, msg.Ptr, opt.Ptr, out result);
                return Finish(st, result);
            }
        }

        /// <summary>Sends raw RFC 5322 bytes; returns the result JSON.</summary>
        public string SendRaw(byte[] data, string optionsJson = null)
        {
            if (data == null) throw new ArgumentNullException("data");
            using (Lease())
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr result;
                int st = Native.om_send_raw(_handle, data, new UIntPtr((uint)data.Length), opt.Ptr, out result);
                return Finish(st, result);
            }
        }

        /// <summary>Sends a JSON array of messages over one connection; returns one result per message.</summary>
        public string SendBatch(string messagesJson, string optionsJson = null)
        {
            using (Lease())
            using (var msgs = new Utf8Arg(messagesJson))
            using (var opt = new Utf8Arg(optionsJson))
            {
                IntPtr results;
                int st = Native.om_send_batch(_handle, msgs.Ptr, opt.Ptr, out results);
                return Finish(st, results);
            }
        }

        // --- browsing and acting on the mailbox ---------------------------------------------------
        // Not the fetch state: messages listed, fetched or flagged here stay "new" for Fetch. All
        // block; Cancel() from another thread ends them (Status == Cancelled). POP3 has no flags,
        // folders or moves (Status == Unsupported).

        /// <summary>
        /// One page of a folder's messages described without downloading them, read-only (nothing
        /// is marked read). Pass <see cref="MessagePage.NextCursor"/> back as
        /// <see cref="ListOptions.Cursor"/> for the next page.
        /// </summary>
        public MessagePage ListMessages(ListOptions options)
        {
            using (Lease())
            using (var opt = new Utf8Arg((options ?? new ListOptions()).ToJson()))
            {
                IntPtr json;
                int st = Native.om_messages_list(_handle, opt.Ptr, out json);
                return MessagePage.FromJson(Finish(st, json));
            }
        }

        /// <summary>The first page (100 messages, newest first) of <paramref name="folder"/> (null: INBOX).</summary>
        public MessagePage ListMessages(string folder)
        {
            return ListMessages(new ListOptions { Folder = folder });
        }

        /// <summary>
        /// Hands the chosen messages to <paramref name="onMessage"/> as Fetch does (with
        /// <paramref name="parse"/>, <see cref="MailMessageInfo.Parsed"/> is filled); returns how many
        /// were delivered. A chosen message that no longer exists is skipped; FetchAction.Stop ends
        /// the call early. Read with BODY.PEEK unless <paramref name="markSeen"/>.
        /// </summary>
        public int FetchMessages(Selection selection, Func<MailMessageInfo, byte[], FetchAction> onMessage,
                                 bool parse = false, bool markSeen = false)
        {
            if (selection == null) throw new ArgumentNullException("selection");
            if (onMessage == null) throw new ArgumentNullException("onMessage");
            var ctx = new FetchContext(onMessage);
            var cb = new Native.om_message_cb(ctx.Invoke);
            string extra = "\"parse\": " + (parse ? "true" : "false") + ", \"mark_seen\": " + (markSeen ? "true" : "false");
            using (Lease())
            using (var sel = new Utf8Arg(selection.ToJson(extra)))
            {
                uint count;
                int st = Native.om_messages_fetch(_handle, sel.Ptr, cb, IntPtr.Zero, out count);
                GC.KeepAlive(cb);
                if (ctx.Exception != null)
                {
                    t_callbackException = null;
                    ExceptionDispatchInfo.Capture(ctx.Exception).Throw();
                }
                Finish(st, IntPtr.Zero);
                return (int)count;
            }
        }

        /// <summary>
        /// Sets and clears flags: <c>seen</c>, <c>flagged</c>, <c>answered</c>, <c>draft</c> or
        /// keywords (Graph categories, Gmail labels; Gmail: flagged = starred).
        /// </summary>
        public void SetFlags(Selection selection, IEnumerable<string> add, IEnumerable<string> remove = null)
        {
            if (selection == null) throw new ArgumentNullException("selection");
            string extra = "\"add\": " + OAuthMailJson.QuoteAll(add) + ", \"remove\": " + OAuthMailJson.QuoteAll(remove);
            using (Lease())
            using (var opt = new Utf8Arg(selection.ToJson(extra)))
                Finish(Native.om_messages_set_flags(_handle, opt.Ptr), IntPtr.Zero);
        }

        /// <summary>Moves the chosen messages into <paramref name="toFolder"/> ("Clients/Société"), created when missing.</summary>
        public void MoveMessages(Selection selection, string toFolder)
        {
            if (selection == null) throw new ArgumentNullException("selection");
            using (Lease())
            using (var opt = new Utf8Arg(selection.ToJson("\"to\": " + OAuthMailJson.Quote(toFolder))))
                Finish(Native.om_messages_move(_handle, opt.Ptr), IntPtr.Zero);
        }

        /// <summary>Copies the chosen messages into <paramref name="toFolder"/>, created when missing.</summary>
        public void CopyMessages(Selection selection, string toFolder)
        {
            if (selection == null) throw new ArgumentNullException("selection");
            using (Lease())
            using (var opt = new Utf8Arg(selection.ToJson("\"to\": " + OAuthMailJson.Quote(toFolder))))
                Finish(Native.om_messages_copy(_handle, opt.Ptr), IntPtr.Zero);
        }

        /// <summary>
        /// Deletes the chosen messages (IMAP: \Deleted and expunged, only these; POP3: DELE; Graph:
        /// moved to Deleted Items; Gmail: moved to the trash).
        /// </summary>
        public void DeleteMessages(Selection selection)
        {
            if (selection == null) throw new ArgumentNullException("selection");
            using (Lease())
            using (var opt = new Utf8Arg(selection.ToJson(null)))
                Finish(Native.om_messages_delete(_handle, opt.Ptr), IntPtr.Zero);
        }

        /// <summary>Creates a folder (parts separated by "/"); one that exists already is not an error.</summary>
        public void CreateFolder(string name, uint timeoutMs = 0)
        {
            using (Lease())
            using (var n = new Utf8Arg(name))
                Finish(Native.om_folder_create(_handle, n.Ptr, timeoutMs), IntPtr.Zero);
        }

        /// <summary>
        /// Waits for new mail in <paramref name="folder"/> (null: INBOX): returns as soon as a message
        /// arrives (NewMail true) or when <paramref name="timeout"/> has passed (NewMail false). IMAP
        /// IDLE when offered, else polling. Blocks: run it on a worker thread, then Fetch; Cancel()
        /// from another thread ends it at once (Status == Cancelled).
        /// </summary>
        public WaitResult WaitForMail(string folder, TimeSpan timeout)
        {
            return WaitForMail(new WaitOptions { Folder = folder }, timeout);
        }

        /// <summary>Waits for new mail with polling and IDLE settings.</summary>
        public WaitResult WaitForMail(WaitOptions options, TimeSpan timeout)
        {
            uint ms = Milliseconds(timeout, "timeout");
            using (Lease())
            using (var opt = new Utf8Arg((options ?? new WaitOptions()).ToJson()))
            {
                IntPtr json;
                int st = Native.om_wait_for_mail(_handle, opt.Ptr, ms, out json);
                return WaitResult.FromJson(Finish(st, json));
            }
        }

        // --- the long calls as Tasks ---------------------------------------------------------------
        // Each runs the blocking call on a thread of its own (TaskCreationOptions.LongRunning): the
        // fetch handler, TokensChanged and the token store then run on that thread. Cancelling the
        // token calls om_account_cancel — which cancels EVERY operation in progress on this account,
        // as Cancel() does — and the Task ends Canceled (await throws OperationCanceledException).
        // A call that completed before the cancellation took effect keeps its result.

        /// <summary><see cref="Fetch"/> on a worker thread (the handler runs there); cancellable.</summary>
        public Task<string> FetchAsync(string optionsJson, Func<MailMessageInfo, byte[], FetchAction> onMessage,
                                       CancellationToken cancellationToken = default(CancellationToken))
        {
            if (onMessage == null) throw new ArgumentNullException("onMessage");
            return RunAsync(() => Fetch(optionsJson, onMessage), cancellationToken);
        }

        /// <summary><see cref="Send"/> on a worker thread; cancellable (a cancelled send was not sent,
        /// unless it fails with DeliveryUnknown).</summary>
        public Task<string> SendAsync(string messageJson, string optionsJson = null,
                                      CancellationToken cancellationToken = default(CancellationToken))
        {
            return RunAsync(() => Send(messageJson, optionsJson), cancellationToken);
        }

        /// <summary><see cref="SendRaw"/> on a worker thread; cancellable.</summary>
        public Task<string> SendRawAsync(byte[] data, string optionsJson = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            if (data == null) throw new ArgumentNullException("data");
            return RunAsync(() => SendRaw(data, optionsJson), cancellationToken);
        }

        /// <summary><see cref="SendBatch"/> on a worker thread; cancellable.</summary>
        public Task<string> SendBatchAsync(string messagesJson, string optionsJson = null,
                                           CancellationToken cancellationToken = default(CancellationToken))
        {
            return RunAsync(() => SendBatch(messagesJson, optionsJson), cancellationToken);
        }

        /// <summary><see cref="ListMessages(ListOptions)"/> on a worker thread; cancellable.</summary>
        public Task<MessagePage> ListMessagesAsync(ListOptions options,
                                                   CancellationToken cancellationToken = default(CancellationToken))
        {
            return RunAsync(() => ListMessages(options), cancellationToken);
        }

        /// <summary><see cref="WaitForMail(string, TimeSpan)"/> on a worker thread; cancelling ends the wait at once.</summary>
        public Task<WaitResult> WaitForMailAsync(string folder, TimeSpan timeout,
                                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            return WaitForMailAsync(new WaitOptions { Folder = folder }, timeout, cancellationToken);
        }

        /// <summary><see cref="WaitForMail(WaitOptions, TimeSpan)"/> on a worker thread; cancelling ends the wait at once.</summary>
        public Task<WaitResult> WaitForMailAsync(WaitOptions options, TimeSpan timeout,
                                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            Milliseconds(timeout, "timeout"); // checked here, not in the Task
            return RunAsync(() => WaitForMail(options, timeout), cancellationToken);
        }

        /// <summary>
        /// Waits for the authorization started with <see cref="StartAuthorization"/> until it
        /// completes (the Task completes: tokens stored) or fails (the Task faults with the
        /// OAuthMailException). Cancelling the token ends the authorization (om_account_cancel):
        /// start it again to retry.
        /// </summary>
        public Task WaitAuthorizationAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return RunAsync(() =>
            {
                while (WaitAuthorization(1000) == OAuthMailStatus.Pending)
                    cancellationToken.ThrowIfCancellationRequested();
                return true;
            }, cancellationToken);
        }

        private Task<T> RunAsync<T>(Func<T> call, CancellationToken cancellationToken)
        {
            if (_handle.IsClosed) throw new ObjectDisposedException("OAuthMailAccount");
            return Task.Factory.StartNew(() => RunCancellable(call, cancellationToken), cancellationToken,
                                         TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        // Runs `call` on this thread. When the token is cancelled, om_account_cancel runs at once
        // and then every 100 ms until the call returns: a cancel that came just before the native
        // call started would otherwise be lost (it only cancels what is in progress). The
        // Cancelled status that results becomes an OperationCanceledException for the token.
        private T RunCancellable<T>(Func<T> call, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!cancellationToken.CanBeCanceled) return call();
            var canceller = new Canceller(this);
            try
            {
                using (cancellationToken.Register(canceller.Start))
                    return call();
            }
            catch (OAuthMailException ex)
            {
                if (ex.Status == OAuthMailStatus.Cancelled && cancellationToken.IsCancellationRequested)
                    throw new OperationCanceledException(ex.Message, ex, cancellationToken);
                throw;
            }
            finally
            {
                canceller.Stop(); // no om_account_cancel after this: the next call is not touched
            }
        }

        private void CancelQuietly()
        {
            try
            {
                using (Lease())
                    Native.om_account_cancel(_handle);
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private sealed class Canceller
        {
            private readonly OAuthMailAccount _account;
            private readonly object _lock = new object();
            private Timer _timer;
            private bool _stopped;

            public Canceller(OAuthMailAccount account)
            {
                _account = account;
            }

            // The token's callback: on the thread that cancelled it.
            public void Start()
            {
                lock (_lock)
                {
                    if (_stopped || _timer != null) return;
                    _account.CancelQuietly();
                    _timer = new Timer(Tick, null, 100, 100);
                }
            }

            private void Tick(object state)
            {
                lock (_lock)
                    if (!_stopped) _account.CancelQuietly();
            }

            public void Stop()
            {
                lock (_lock)
                {
                    _stopped = true;
                    if (_timer != null) _timer.Dispose();
                    _timer = null;
                }
            }
        }

        internal static uint Milliseconds(TimeSpan t, string name)
        {
            if (t < TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "a negative time");
            double ms = Math.Ceiling(t.TotalMilliseconds);
            return ms >= uint.MaxValue ? uint.MaxValue : (uint)ms;
        }

        /// <summary>Cancels every operation in progress on the account (from any thread).</summary>
        public void Cancel()
        {
            using (Lease())
                Finish(Native.om_account_cancel(_handle), IntPtr.Zero);
        }

        /// <summary>
        /// Cancels what the account is doing and frees it. If a call is still running on it
        /// (another thread, or from inside a callback), om_account_free runs when that call returns.
        /// </summary>
        public void Dispose()
        {
            if (_handle.IsClosed) return;
            try
            {
                // The SafeHandle defers the free while a call runs: cancel so that call returns soon.
                Native.om_account_cancel(_handle);
            }
            catch (ObjectDisposedException)
            {
            }
            _handle.Dispose();
        }

        // --- plumbing ---------------------------------------------------------------------

        /// <summary>
        /// Keeps an exception thrown by host code running inside a native call on this thread
        /// (token store callbacks): the call's Finish throws it (as InnerException on failure).
        /// </summary>
        internal static void RecordCallbackException(Exception ex)
        {
            if (t_callbackException == null) t_callbackException = ex;
        }

        private void OnTokens(IntPtr userData, IntPtr tokensJson)
        {
            try
            {
                string json = Utf8.FromNative(tokensJson);
                var h = TokensChanged;
                if (h != null) h(this, json);
            }
            catch (Exception ex)
            {
                if (t_callbackException == null) t_callbackException = ex;
            }
        }

        /// <summary>
        /// Checks the status of a native call that just returned, on this thread; frees `owned`
        /// (a library string, may be zero) after decoding it. Throws OAuthMailException on
        /// failure, or rethrows an exception of a TokensChanged handler.
        /// </summary>
        private string Finish(int status, IntPtr owned)
        {
            try
            {
                Exception cb = t_callbackException;
                t_callbackException = null;
                if (status != Native.OM_STATUS_OK) throw OAuthMailException.FromLastError(status, cb);
                if (cb != null) ExceptionDispatchInfo.Capture(cb).Throw();
                return Utf8.FromNative(owned);
            }
            finally
            {
                Native.om_string_free(owned);
                GC.KeepAlive(this);
            }
        }

        /// <summary>
        /// Holds a reference on the handle for the whole call and its error reading: a Dispose
        /// from another thread then frees the account only after we read the last error (the
        /// deferred om_account_free would otherwise clear it first). Throws ObjectDisposedException.
        /// </summary>
        private HandleLease Lease()
        {
            return new HandleLease(_handle);
        }

        private struct HandleLease : IDisposable
        {
            private readonly SafeHandle _h;
            public HandleLease(SafeHandle h)
            {
                bool added = false;
                h.DangerousAddRef(ref added);
                _h = added ? h : null;
            }
            public void Dispose()
            {
                if (_h != null) _h.DangerousRelease();
            }
        }

        private sealed class FetchContext
        {
            private readonly Func<MailMessageInfo, byte[], FetchAction> _handler;
            public Exception Exception;

            public FetchContext(Func<MailMessageInfo, byte[], FetchAction> handler)
            {
                _handler = handler;
            }

            // Runs on the thread that called om_fetch, inside it. Never throws.
            public int Invoke(IntPtr userData, IntPtr message, IntPtr data, UIntPtr len)
            {
                try
                {
                    var m = (Native.om_message)Marshal.PtrToStructure(message, typeof(Native.om_message));
                    var info = new MailMessageInfo
                    {
                        Uid = m.uid,
                        UidValidity = m.uidvalidity,
                        Resync = m.resync != 0,
                        Size = m.size,
                        InternalDate = m.internal_date,
                        Folder = Utf8.FromNative(m.folder),
                        Flags = Utf8.FromNative(m.flags),
                        Uidl = Utf8.FromNative(m.uidl),
                    };
                    if (m.parsed_json != IntPtr.Zero)
                    {
                        info.ParsedJson = Utf8.FromNative(m.parsed_json);
                        info.Parsed = ParsedMessage.FromJson(info.ParsedJson);
                    }
                    ulong n = len.ToUInt64();
                    if (n > int.MaxValue) throw new InvalidOperationException("message larger than 2 GiB");
                    var bytes = new byte[(int)n];
                    if (n > 0) Marshal.Copy(data, bytes, 0, (int)n);
                    return (int)_handler(info, bytes);
                }
                catch (Exception ex)
                {
                    Exception = ex;
                    return (int)FetchAction.Error;
                }
            }
        }
    }

    // --- parsed, listed and chosen messages ---------------------------------------------------

    /// <summary>One address of an address header (a From, To, Cc… entry).</summary>
    public sealed class Address
    {
        /// <summary>The display name decoded (RFC 2047, any charset), or null when there is none.</summary>
        public string Name { get; internal set; }
        /// <summary>The address itself ("client@example.test"), or null (a group's name alone).</summary>
        public string Email { get; internal set; }

        /// <summary>"Name &lt;email&gt;", or the email alone.</summary>
        public override string ToString()
        {
            if (string.IsNullOrEmpty(Name)) return Email ?? "";
            return Name + " <" + Email + ">";
        }

        internal static IList<Address> ListFrom(string rawArray)
        {
            var list = new List<Address>();
            foreach (string item in OAuthMailJson.GetArrayItems(rawArray))
            {
                var o = new JsonMembers(item);
                list.Add(new Address { Name = o.Str("name"), Email = o.Str("address") });
            }
            return list;
        }
    }

    /// <summary>One attachment or inline part of a message (inline images of the HTML body included).</summary>
    public class AttachmentInfo
    {
        /// <summary>Its position: what <see cref="OAuthMailLibrary.GetAttachment"/> takes.</summary>
        public int Index { get; internal set; }
        /// <summary>Decoded (RFC 2231, RFC 2047), or null when the part has no name.</summary>
        public string FileName { get; internal set; }
        /// <summary>"type/subtype", lower case.</summary>
        public string ContentType { get; internal set; }
        /// <summary>Decoded size in bytes.</summary>
        public long Size { get; internal set; }
        /// <summary>Without the angle brackets (what "cid:" URLs of the HTML body name), or null.</summary>
        public string ContentId { get; internal set; }
        /// <summary>"attachment", "inline", or null when the part says neither.</summary>
        public string Disposition { get; internal set; }
        /// <summary>A message attached whole (message/rfc822): its bytes are the attached message.</summary>
        public bool IsMessage { get; internal set; }
        /// <summary>Outlook's winmail.dat (TNEF): listed, not unpacked.</summary>
        public bool IsTnef { get; internal set; }
        /// <summary>Disposition is "inline".</summary>
        public bool IsInline { get { return Disposition == "inline"; } }

        internal void Read(JsonMembers o)
        {
            Index = (int)(o.Long("index") ?? 0);
            FileName = o.Str("file_name");
            ContentType = o.Str("content_type");
            Size = o.Long("size") ?? 0;
            ContentId = o.Str("content_id");
            Disposition = o.Str("disposition");
            IsMessage = o.Bool("is_message");
            IsTnef = o.Bool("is_tnef");
        }
    }

    /// <summary>An attachment written by <see cref="OAuthMailLibrary.SaveAttachments"/>.</summary>
    public sealed class SavedAttachment : AttachmentInfo
    {
        /// <summary>The file written (its name made safe and unique: it may differ from FileName).</summary>
        public string Path { get; internal set; }
    }

    /// <summary>The header fields a message is filed by: what a parse and a listing both give.</summary>
    public abstract class MessageEnvelope
    {
        private static readonly IList<Address> NoAddresses = new List<Address>().AsReadOnly();
        private static readonly IList<string> NoStrings = new List<string>().AsReadOnly();

        protected MessageEnvelope()
        {
            From = Sender = ReplyTo = To = Cc = Bcc = NoAddresses;
            InReplyTo = References = NoStrings;
        }

        public IList<Address> From { get; internal set; }
        public IList<Address> Sender { get; internal set; }
        public IList<Address> ReplyTo { get; internal set; }
        public IList<Address> To { get; internal set; }
        public IList<Address> Cc { get; internal set; }
        public IList<Address> Bcc { get; internal set; }
        /// <summary>Decoded, or null when the message has none.</summary>
        public string Subject { get; internal set; }
        /// <summary>The Date header with the sender's offset, or null when missing or unreadable.</summary>
        public DateTimeOffset? Date { get; internal set; }
        /// <summary>The same instant in Unix seconds, or null.</summary>
        public long? DateUnix { get; internal set; }
        /// <summary>The Message-ID without the angle brackets, or null.</summary>
        public string MessageId { get; internal set; }
        /// <summary>The In-Reply-To ids, without the angle brackets.</summary>
        public IList<string> InReplyTo { get; internal set; }
        /// <summary>The References ids, without the angle brackets.</summary>
        public IList<string> References { get; internal set; }

        internal void ReadEnvelope(JsonMembers o)
        {
            From = Address.ListFrom(o.Raw("from"));
            Sender = Address.ListFrom(o.Raw("sender"));
            ReplyTo = Address.ListFrom(o.Raw("reply_to"));
            To = Address.ListFrom(o.Raw("to"));
            Cc = Address.ListFrom(o.Raw("cc"));
            Bcc = Address.ListFrom(o.Raw("bcc"));
            Subject = o.Str("subject");
            DateUnix = o.Long("date_unix");
            string date = o.Str("date");
            DateTimeOffset d;
            if (date != null && DateTimeOffset.TryParse(date, CultureInfo.InvariantCulture, DateTimeStyles.None, out d)) Date = d;
            else if (DateUnix.HasValue) Date = new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(DateUnix.Value);
            MessageId = o.Str("message_id");
            InReplyTo = o.Strings("in_reply_to");
            References = o.Strings("references");
        }
    }

    /// <summary>A message parsed (<see cref="OAuthMailLibrary.ParseMessage"/>, or Fetch with "parse").</summary>
    public sealed class ParsedMessage : MessageEnvelope
    {
        /// <summary>The plain-text body (whatever the message's charset), or null.</summary>
        public string Text { get; internal set; }
        /// <summary>Text was derived from Html (the message had no text part).</summary>
        public bool TextFromHtml { get; internal set; }
        /// <summary>The HTML body as sent, or null.</summary>
        public string Html { get; internal set; }
        /// <summary>The attachments, inline parts included.</summary>
        public IList<AttachmentInfo> Attachments { get; internal set; }
        /// <summary>S/MIME or PGP encrypted: the bodies are not readable here.</summary>
        public bool Encrypted { get; internal set; }
        public bool Signed { get; internal set; }
        /// <summary>"smime", "pgp", or null.</summary>
        public string Security { get; internal set; }
        /// <summary>An attachment is Outlook's winmail.dat.</summary>
        public bool HasTnef { get; internal set; }
        /// <summary>The bytes held no message header at all.</summary>
        public bool Unreadable { get; internal set; }

        /// <summary>
        /// A ParsedMessage from om_message_parse's JSON (<see cref="OAuthMailLibrary.ParseMessageJson"/>,
        /// <see cref="MailMessageInfo.ParsedJson"/>, the .json files FetchToDirectory writes with "parse").
        /// </summary>
        public static ParsedMessage FromJson(string json)
        {
            var o = new JsonMembers(json);
            var p = new ParsedMessage();
            p.ReadEnvelope(o);
            p.Text = o.Str("text");
            p.TextFromHtml = o.Bool("text_from_html");
            p.Html = o.Str("html");
            var attachments = new List<AttachmentInfo>();
            foreach (string item in OAuthMailJson.GetArrayItems(o.Raw("attachments")))
            {
                var a = new AttachmentInfo();
                a.Read(new JsonMembers(item));
                attachments.Add(a);
            }
            p.Attachments = attachments;
            p.Encrypted = o.Bool("encrypted");
            p.Signed = o.Bool("signed");
            p.Security = o.Str("security");
            p.HasTnef = o.Bool("has_tnef");
            p.Unreadable = o.Bool("unreadable");
            return p;
        }
    }

    /// <summary>One message of a listing: what a mail window shows, without downloading it.</summary>
    public sealed class ListedMessage : MessageEnvelope
    {
        /// <summary>What <see cref="Selection.Ids"/> takes (IMAP: the UID in decimal; POP3: the UIDL; Graph, Gmail: the message id).</summary>
        public string Id { get; internal set; }
        /// <summary>IMAP: the UID; POP3: the message number in this session; Graph, Gmail: 0.</summary>
        public uint Uid { get; internal set; }
        /// <summary>"\Seen", "\Flagged", keywords… (Graph and Gmail mapped to the same names; POP3: none).</summary>
        public IList<string> Flags { get; internal set; }
        /// <summary>Size in bytes as the server reports it.</summary>
        public long Size { get; internal set; }
        /// <summary>When the server received it, Unix seconds (0 if unknown).</summary>
        public long InternalDate { get; internal set; }
        /// <summary>At least one attachment (IMAP: from BODYSTRUCTURE).</summary>
        public bool HasAttachments { get; internal set; }

        /// <summary>InternalDate as a DateTimeOffset (UTC), or null when unknown.</summary>
        public DateTimeOffset? InternalDateUtc
        {
            get { return InternalDate == 0 ? (DateTimeOffset?)null : new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(InternalDate); }
        }

        /// <summary>Flags holds <paramref name="flag"/> ("\Seen", "\Flagged", a keyword), ignoring case.</summary>
        public bool HasFlag(string flag)
        {
            foreach (string f in Flags)
                if (string.Equals(f, flag, StringComparison.OrdinalIgnoreCase)) return true;
            return false;
        }

        internal static ListedMessage Read(JsonMembers o)
        {
            var m = new ListedMessage();
            m.ReadEnvelope(o);
            m.Id = o.Str("id");
            m.Uid = (uint)(o.Long("uid") ?? 0);
            m.Flags = o.Strings("flags");
            m.Size = o.Long("size") ?? 0;
            m.InternalDate = o.Long("internal_date") ?? 0;
            m.HasAttachments = o.Bool("has_attachments");
            return m;
        }
    }

    /// <summary>One page of a listing (<see cref="OAuthMailAccount.ListMessages(ListOptions)"/>).</summary>
    public sealed class MessagePage
    {
        public string Folder { get; internal set; }
        /// <summary>IMAP: the folder's UIDVALIDITY (give it back in <see cref="Selection.UidValidity"/>); else 0.</summary>
        public uint UidValidity { get; internal set; }
        /// <summary>How many messages match, all pages, or null when the server does not say.</summary>
        public long? Total { get; internal set; }
        /// <summary>For <see cref="ListOptions.Cursor"/>: the next page; null on the last one.</summary>
        public string NextCursor { get; internal set; }
        public IList<ListedMessage> Messages { get; internal set; }

        internal static MessagePage FromJson(string json)
        {
            var o = new JsonMembers(json);
            var page = new MessagePage
            {
                Folder = o.Str("folder"),
                UidValidity = (uint)(o.Long("uidvalidity") ?? 0),
                Total = o.Long("total"),
                NextCursor = o.Str("next_cursor"),
            };
            var messages = new List<ListedMessage>();
            foreach (string item in OAuthMailJson.GetArrayItems(o.Raw("messages")))
                messages.Add(ListedMessage.Read(new JsonMembers(item)));
            page.Messages = messages;
            return page;
        }
    }

    /// <summary>Search criteria of a listing: every one set must match. Null/unset: not a criterion.</summary>
    public sealed class SearchCriteria
    {
        /// <summary>true: unread messages only; false: read ones only.</summary>
        public bool? Unseen { get; set; }
        /// <summary>true: flagged (starred) only; false: unflagged only.</summary>
        public bool? Flagged { get; set; }
        /// <summary>true: answered only; false: unanswered only (IMAP).</summary>
        public bool? Answered { get; set; }
        /// <summary>Received on or after this day (its date part).</summary>
        public DateTime? Since { get; set; }
        /// <summary>Received before this day (its date part).</summary>
        public DateTime? Before { get; set; }
        /// <summary>Case-insensitive substrings.</summary>
        public string From { get; set; }
        public string To { get; set; }
        public string Subject { get; set; }
        /// <summary>Anywhere in the header or body.</summary>
        public string Text { get; set; }
        /// <summary>An IMAP keyword, a Graph category, a Gmail label.</summary>
        public string Keyword { get; set; }
        /// <summary>Larger than this many bytes.</summary>
        public long? Larger { get; set; }
        /// <summary>Smaller than this many bytes.</summary>
        public long? Smaller { get; set; }

        internal string ToJson()
        {
            var j = new JsonWriter();
            j.Bool("unseen", Unseen);
            j.Bool("flagged", Flagged);
            j.Bool("answered", Answered);
            j.Day("since", Since);
            j.Day("before", Before);
            j.Str("from", From);
            j.Str("to", To);
            j.Str("subject", Subject);
            j.Str("text", Text);
            j.Str("keyword", Keyword);
            j.Long("larger", Larger);
            j.Long("smaller", Smaller);
            return j.IsEmpty ? null : j.ToString();
        }
    }

    /// <summary>The order of a listing.</summary>
    public enum ListOrder
    {
        /// <summary>What a mail window shows (the default).</summary>
        NewestFirst,
        OldestFirst,
    }

    /// <summary>What <see cref="OAuthMailAccount.ListMessages(ListOptions)"/> lists.</summary>
    public sealed class ListOptions
    {
        /// <summary>The folder; null: INBOX.</summary>
        public string Folder { get; set; }
        /// <summary>Search criteria, or null for every message.</summary>
        public SearchCriteria Search { get; set; }
        /// <summary>IMAP only: a UID set such as "1:500" or "7,9,20:*".</summary>
        public string Uids { get; set; }
        /// <summary>Messages per page, 1–1000; null: 100.</summary>
        public int? Limit { get; set; }
        /// <summary>The previous page's <see cref="MessagePage.NextCursor"/>.</summary>
        public string Cursor { get; set; }
        public ListOrder Order { get; set; }
        /// <summary>A bound on the call; null: none beyond the account's timeout_secs per read.</summary>
        public TimeSpan? Timeout { get; set; }

        internal string ToJson()
        {
            var j = new JsonWriter();
            j.Str("folder", Folder);
            if (Search != null) j.Raw("search", Search.ToJson());
            j.Str("uids", Uids);
            j.Long("limit", Limit);
            j.Str("cursor", Cursor);
            j.Raw("order", Order == ListOrder.OldestFirst ? "\"oldest_first\"" : "\"newest_first\"");
            if (Timeout.HasValue) j.Long("timeout_ms", OAuthMailAccount.Milliseconds(Timeout.Value, "Timeout"));
            return j.ToString();
        }
    }

    /// <summary>
    /// Chosen messages of one folder: by <see cref="Ids"/> (a listing's <see cref="ListedMessage.Id"/>)
    /// or, IMAP only, by <see cref="Uids"/>.
    /// </summary>
    public sealed class Selection
    {
        public Selection()
        {
            Ids = new List<string>();
            Uids = new List<uint>();
        }

        /// <summary>The folder; null: INBOX.</summary>
        public string Folder { get; set; }
        public IList<string> Ids { get; set; }
        public IList<uint> Uids { get; set; }
        /// <summary>IMAP: the call is refused when the folder's UIDVALIDITY is no longer this one (the UIDs may name other messages).</summary>
        public uint? UidValidity { get; set; }
        /// <summary>A bound on the call; null: none beyond the account's timeout_secs per read.</summary>
        public TimeSpan? Timeout { get; set; }

        /// <summary>The messages of <paramref name="folder"/> with these listing ids.</summary>
        public static Selection ByIds(string folder, params string[] ids)
        {
            return new Selection { Folder = folder, Ids = new List<string>(ids) };
        }

        /// <summary>IMAP: the messages of <paramref name="folder"/> with these UIDs, checked against uidValidity when given.</summary>
        public static Selection ByUids(string folder, uint? uidValidity, params uint[] uids)
        {
            return new Selection { Folder = folder, Uids = new List<uint>(uids), UidValidity = uidValidity };
        }

        internal string ToJson(string extraMembers)
        {
            var j = new JsonWriter();
            j.Str("folder", Folder);
            if (Ids != null && Ids.Count > 0) j.Raw("ids", OAuthMailJson.QuoteAll(Ids));
            if (Uids != null && Uids.Count > 0)
            {
                var uids = new StringBuilder();
                foreach (uint u in Uids) uids.Append(uids.Length > 0 ? ", " : "").Append(u.ToString(CultureInfo.InvariantCulture));
                j.Raw("uids", "[" + uids + "]");
            }
            if (UidValidity.HasValue) j.Long("uidvalidity", UidValidity.Value);
            if (Timeout.HasValue) j.Long("timeout_ms", OAuthMailAccount.Milliseconds(Timeout.Value, "Timeout"));
            if (!string.IsNullOrEmpty(extraMembers)) j.Members(extraMembers);
            return j.ToString();
        }
    }

    /// <summary>How <see cref="OAuthMailAccount.WaitForMail(WaitOptions, TimeSpan)"/> waits.</summary>
    public sealed class WaitOptions
    {
        /// <summary>The folder; null: INBOX.</summary>
        public string Folder { get; set; }
        /// <summary>Between two polls when IDLE is not available (whole seconds; null: 60 s).</summary>
        public TimeSpan? PollInterval { get; set; }
        /// <summary>IDLE ended and started again after (whole seconds; null: 25 min).</summary>
        public TimeSpan? IdleRefresh { get; set; }
        /// <summary>Poll even when the server offers IDLE.</summary>
        public bool PollOnly { get; set; }

        internal string ToJson()
        {
            var j = new JsonWriter();
            j.Str("folder", Folder);
            if (PollInterval.HasValue) j.Long("poll_interval_secs", Seconds(PollInterval.Value));
            if (IdleRefresh.HasValue) j.Long("idle_refresh_secs", Seconds(IdleRefresh.Value));
            if (PollOnly) j.Raw("poll_only", "true");
            return j.ToString();
        }

        private static long Seconds(TimeSpan t)
        {
            return Math.Max(1L, (long)Math.Ceiling(t.TotalSeconds));
        }
    }

    /// <summary>How a wait for mail ended.</summary>
    public sealed class WaitResult
    {
        /// <summary>A message arrived (or the folder was rebuilt: fetch to see); false when the time was up.</summary>
        public bool NewMail { get; internal set; }
        public string Folder { get; internal set; }
        /// <summary>"idle" or "poll".</summary>
        public string Method { get; internal set; }
        /// <summary>Connections re-opened during the wait.</summary>
        public int Reconnects { get; internal set; }

        internal static WaitResult FromJson(string json)
        {
            var o = new JsonMembers(json);
            return new WaitResult
            {
                NewMail = o.Bool("new_mail"),
                Folder = o.Str("folder"),
                Method = o.Str("method"),
                Reconnects = (int)(o.Long("reconnects") ?? 0),
            };
        }
    }

    /// <summary>A JSON object of the library split once into its members (values kept as raw JSON).</summary>
    internal sealed class JsonMembers
    {
        private static readonly IList<string> NoStrings = new List<string>().AsReadOnly();
        private readonly Dictionary<string, string> _m;

        public JsonMembers(string json)
        {
            _m = OAuthMailJson.GetMembers(json);
        }

        public string Raw(string key)
        {
            string raw;
            return _m.TryGetValue(key, out raw) ? raw : null;
        }

        public string Str(string key) { return OAuthMailJson.StringValue(Raw(key)); }

        public long? Long(string key)
        {
            long v;
            string raw = Raw(key);
            if (raw != null && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out v)) return v;
            return null;
        }

        public bool Bool(string key) { return Raw(key) == "true"; }

        public IList<string> Strings(string key)
        {
            string raw = Raw(key);
            if (raw == null) return NoStrings;
            var list = new List<string>();
            foreach (string item in OAuthMailJson.GetArrayItems(raw)) list.Add(OAuthMailJson.StringValue(item));
            return list;
        }
    }

    /// <summary>Builds the JSON objects of the options (members left out when not set).</summary>
    internal sealed class JsonWriter
    {
        private readonly StringBuilder _sb = new StringBuilder();

        public bool IsEmpty { get { return _sb.Length == 0; } }

        public void Raw(string key, string json)
        {
            if (json == null) return;
            if (_sb.Length > 0) _sb.Append(", ");
            _sb.Append(OAuthMailJson.Quote(key)).Append(": ").Append(json);
        }

        public void Members(string members)
        {
            if (_sb.Length > 0) _sb.Append(", ");
            _sb.Append(members);
        }

        public void Str(string key, string value) { if (value != null) Raw(key, OAuthMailJson.Quote(value)); }

        public void Bool(string key, bool? value) { if (value.HasValue) Raw(key, value.Value ? "true" : "false"); }

        public void Long(string key, long? value)
        {
            if (value.HasValue) Raw(key, value.Value.ToString(CultureInfo.InvariantCulture));
        }

        public void Day(string key, DateTime? value)
        {
            if (value.HasValue) Raw(key, OAuthMailJson.Quote(value.Value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
        }

        public override string ToString() { return "{" + _sb + "}"; }
    }

    /// <summary>
    /// The host's own storage of a mailbox's tokens — typically one row of its database — shared
    /// by every process and workstation that uses the mailbox, set with
    /// <see cref="OAuthMailAccount.SetTokenStore"/>. The library calls TryLock before every
    /// refresh (and revocation), then Unlock once it is done, both on the thread of the account
    /// call that needs them, inside it. Do not call the account from them (ReentrantCall).
    /// </summary>
    public interface ITokenStore
    {
        /// <summary>
        /// Takes the host's lock on the stored tokens, waiting at most <paramref name="timeout"/>
        /// (e.g. <c>BEGIN TRANSACTION; SELECT tokens FROM mailbox WHERE id = @id FOR UPDATE</c> with
        /// that lock timeout, or a named mutex), and reads them: <paramref name="storedTokensJson"/>
        /// is the stored token set JSON (as ExportTokens gave it), or null when nothing is stored.
        /// Returns false when the lock was not taken in time (the account call then throws with
        /// Status == TokensLocked). Throw when the storage fails: the account call throws with
        /// Status == IoError and your exception as InnerException. Unlock is called only after true.
        /// </summary>
        bool TryLock(TimeSpan timeout, out string storedTokensJson);

        /// <summary>
        /// Saves <paramref name="newTokensJsonOrNull"/> when it is not null (it replaces the stored
        /// set: it is newer), then releases the lock taken by TryLock (commit). Release the lock
        /// even when the save fails, then throw: the account call throws with Status == IoError.
        /// </summary>
        void Unlock(string newTokensJsonOrNull);
    }

    /// <summary>
    /// The native side of an <see cref="ITokenStore"/>: static Cdecl thunks (never collected)
    /// and, per SetTokenStore, an id in a table as the callbacks' user data, removed by the
    /// library's free function when the store is replaced or removed or the account freed.
    /// </summary>
    internal sealed class TokenStoreBridge
    {
        internal static readonly Native.om_tokens_lock_cb LockThunk = OnLock;
        internal static readonly Native.om_tokens_unlock_cb UnlockThunk = OnUnlock;
        internal static readonly Native.om_free_cb FreeThunk = OnFree;

        private static readonly Dictionary<long, TokenStoreBridge> s_live = new Dictionary<long, TokenStoreBridge>();
        private static long s_nextId;

        private readonly ITokenStore _store;
        // The stored set handed to the library by OnLock (UTF-8, AllocHGlobal): it must stay
        // valid until OnUnlock. One at a time per account: the library takes the store's lock
        // for one refresh at a time per account.
        private IntPtr _held;

        private TokenStoreBridge(ITokenStore store)
        {
            _store = store;
        }

        internal static IntPtr Register(ITokenStore store)
        {
            lock (s_live)
            {
                long id = ++s_nextId;
                s_live[id] = new TokenStoreBridge(store);
                return new IntPtr(id);
            }
        }

        internal static void Forget(IntPtr id)
        {
            TokenStoreBridge b;
            lock (s_live)
            {
                if (!s_live.TryGetValue(id.ToInt64(), out b)) return;
                s_live.Remove(id.ToInt64());
            }
            b.FreeHeld();
        }

        /// <summary>Stores the library still holds (for tests: 0 once every account is disposed).</summary>
        internal static int LiveCount
        {
            get { lock (s_live) return s_live.Count; }
        }

        private static TokenStoreBridge Find(IntPtr id)
        {
            TokenStoreBridge b;
            lock (s_live) s_live.TryGetValue(id.ToInt64(), out b);
            return b;
        }

        private void FreeHeld()
        {
            IntPtr p = Interlocked.Exchange(ref _held, IntPtr.Zero);
            if (p != IntPtr.Zero) Marshal.FreeHGlobal(p);
        }

        // Runs on the thread of the account call, inside it. Never throws.
        private static int OnLock(IntPtr userData, uint timeoutMs, IntPtr outTokensJson)
        {
            try
            {
                Marshal.WriteIntPtr(outTokensJson, IntPtr.Zero);
                TokenStoreBridge b = Find(userData);
                if (b == null) return Native.OM_TOKEN_STORE_FAILED;
                string stored;
                if (!b._store.TryLock(TimeSpan.FromMilliseconds(timeoutMs), out stored)) return Native.OM_TOKEN_STORE_BUSY;
                IntPtr p;
                try
                {
                    p = Utf8.ToNative(stored); // IntPtr.Zero for null: nothing stored yet
                }
                catch (Exception)
                {
                    // the lock is held but the library will not call Unlock after FAILED
                    try { b._store.Unlock(null); } catch (Exception) { }
                    throw;
                }
                b.FreeHeld();
                b._held = p;
                Marshal.WriteIntPtr(outTokensJson, p);
                return Native.OM_TOKEN_STORE_OK;
            }
            catch (Exception ex)
            {
                OAuthMailAccount.RecordCallbackException(ex);
                return Native.OM_TOKEN_STORE_FAILED;
            }
        }

        // Runs on the thread of the account call, inside it. Never throws.
        private static int OnUnlock(IntPtr userData, IntPtr tokensJson)
        {
            TokenStoreBridge b = null;
            try
            {
                b = Find(userData);
                if (b == null) return Native.OM_TOKEN_STORE_FAILED;
                b._store.Unlock(Utf8.FromNative(tokensJson));
                return Native.OM_TOKEN_STORE_OK;
            }
            catch (Exception ex)
            {
                OAuthMailAccount.RecordCallbackException(ex);
                return Native.OM_TOKEN_STORE_FAILED;
            }
            finally
            {
                if (b != null) b.FreeHeld(); // the library no longer reads the stored set
            }
        }

        // The library is done with this store (replaced, removed, account freed): any thread.
        private static void OnFree(IntPtr userData)
        {
            try
            {
                Forget(userData);
            }
            catch (Exception)
            {
            }
        }
    }

    /// <summary>
    /// A tiny JSON helper (no dependency on System.Text.Json or System.Web.Extensions): quote a
    /// string for the JSON you pass in, read a top-level value of the JSON you get back.
    /// </summary>
    public static class OAuthMailJson
    {
        /// <summary>A JSON string literal, quotes included.</summary>
        public static string Quote(string s)
        {
            if (s == null) return "null";
            var sb = new StringBuilder(s.Length + 2);
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.AppendFormat(CultureInfo.InvariantCulture, "\\u{0:x4}", (int)c);
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
            return sb.ToString();
        }

        /// <summary>A JSON array of string literals ("[]" for null).</summary>
        public static string QuoteAll(IEnumerable<string> items)
        {
            var sb = new StringBuilder("[");
            if (items != null)
                foreach (string item in items)
                {
                    if (item == null) throw new ArgumentException("a null string in the list");
                    if (sb.Length > 1) sb.Append(", ");
                    sb.Append(Quote(item));
                }
            return sb.Append(']').ToString();
        }

        /// <summary>The members of a JSON object: key and raw JSON text of each value (empty when not an object).</summary>
        internal static Dictionary<string, string> GetMembers(string json)
        {
            var members = new Dictionary<string, string>(StringComparer.Ordinal);
            if (json == null) return members;
            int i = 0;
            SkipWs(json, ref i);
            if (i >= json.Length || json[i] != '{') return members;
            i++;
            while (true)
            {
                SkipWs(json, ref i);
                if (i >= json.Length || json[i] == '}') return members;
                if (json[i] == ',') { i++; continue; }
                string k = ReadString(json, ref i);
                SkipWs(json, ref i);
                if (i >= json.Length || json[i] != ':') throw new FormatException("JSON ':' expected at " + i);
                i++;
                SkipWs(json, ref i);
                int start = i;
                SkipValue(json, ref i);
                members[k] = json.Substring(start, i - start);
            }
        }

        /// <summary>The value of a raw JSON string literal, or null (null, absent, not a string).</summary>
        internal static string StringValue(string raw)
        {
            if (raw == null || raw.Length == 0 || raw[0] != '"') return null;
            int i = 0;
            return ReadString(raw, ref i);
        }

        /// <summary>The string value of a top-level key of a JSON object, or null (absent or not a string).</summary>
        public static string GetString(string json, string key)
        {
            string raw = GetRaw(json, key);
            if (raw == null || raw.Length == 0 || raw[0] != '"') return null;
            int i = 0;
            return ReadString(raw, ref i);
        }

        /// <summary>The integer value of a top-level key, or null.</summary>
        public static long? GetInt64(string json, string key)
        {
            string raw = GetRaw(json, key);
            long v;
            if (raw != null && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out v)) return v;
            return null;
        }

        /// <summary>The boolean value of a top-level key, or null.</summary>
        public static bool? GetBool(string json, string key)
        {
            string raw = GetRaw(json, key);
            if (raw == "true") return true;
            if (raw == "false") return false;
            return null;
        }

        /// <summary>The raw JSON text of a top-level key's value, or null when absent.</summary>
        public static string GetRaw(string json, string key)
        {
            if (json == null) return null;
            int i = 0;
            SkipWs(json, ref i);
            if (i >= json.Length || json[i] != '{') return null;
            i++;
            while (true)
            {
                SkipWs(json, ref i);
                if (i >= json.Length || json[i] == '}') return null;
                if (json[i] == ',') { i++; continue; }
                string k = ReadString(json, ref i);
                SkipWs(json, ref i);
                if (i >= json.Length || json[i] != ':') return null;
                i++;
                SkipWs(json, ref i);
                int start = i;
                SkipValue(json, ref i);
                if (k == key) return json.Substring(start, i - start);
            }
        }

        /// <summary>The raw JSON texts of the elements of a JSON array.</summary>
        public static List<string> GetArrayItems(string json)
        {
            var items = new List<string>();
            if (json == null) return items;
            int i = 0;
            SkipWs(json, ref i);
            if (i >= json.Length || json[i] != '[') return items;
            i++;
            while (true)
            {
                SkipWs(json, ref i);
                if (i >= json.Length || json[i] == ']') return items;
                if (json[i] == ',') { i++; continue; }
                int start = i;
                SkipValue(json, ref i);
                items.Add(json.Substring(start, i - start));
            }
        }

        private static void SkipWs(string s, ref int i)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        }

        private static void SkipValue(string s, ref int i)
        {
            if (i >= s.Length) return;
            char c = s[i];
            if (c == '"') { ReadString(s, ref i); return; }
            if (c == '{' || c == '[')
            {
                int depth = 0;
                while (i < s.Length)
                {
                    char d = s[i];
                    if (d == '"') { ReadString(s, ref i); continue; }
                    if (d == '{' || d == '[') depth++;
                    else if (d == '}' || d == ']') { depth--; if (depth == 0) { i++; return; } }
                    i++;
                }
                return;
            }
            while (i < s.Length && s[i] != ',' && s[i] != '}' && s[i] != ']' && !char.IsWhiteSpace(s[i])) i++;
        }

        private static string ReadString(string s, ref int i)
        {
            if (i >= s.Length || s[i] != '"') throw new FormatException("JSON string expected at " + i);
            i++;
            var sb = new StringBuilder();
            while (i < s.Length)
            {
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: sb.Append(e); break;
                }
            }
            throw new FormatException("unterminated JSON string");
        }
    }

    /// <summary>A managed string as a NUL-terminated UTF-8 buffer in unmanaged memory, for one call.</summary>
    internal struct Utf8Arg : IDisposable
    {
        public readonly IntPtr Ptr;

        public Utf8Arg(string s)
        {
            Ptr = Utf8.ToNative(s);
        }

        public void Dispose()
        {
            if (Ptr != IntPtr.Zero) Marshal.FreeHGlobal(Ptr);
        }
    }

    internal static class Utf8
    {
        // Strict: a lone surrogate is an error here rather than a '?' sent to the server.
        private static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        /// <summary>AllocHGlobal'd NUL-terminated UTF-8 copy of s (IntPtr.Zero for null); free with FreeHGlobal.</summary>
        public static IntPtr ToNative(string s)
        {
            if (s == null) return IntPtr.Zero;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("the string contains a NUL character");
            byte[] bytes = Strict.GetBytes(s);
            IntPtr p = Marshal.AllocHGlobal(bytes.Length + 1);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            Marshal.WriteByte(p, bytes.Length, 0);
            return p;
        }

        /// <summary>Decodes a NUL-terminated UTF-8 string (null for IntPtr.Zero). Does not free it.</summary>
        public static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            if (n == 0) return "";
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }
    }

    /// <summary>
    /// Where the native library comes from. An AnyCPU program runs 32- or 64-bit depending on the
    /// machine (and "Prefer 32-bit"), so on Windows it may ship both DLLs side by side:
    /// <c>x64\oauthmail.dll</c> and <c>x86\oauthmail.dll</c> next to this assembly (or the
    /// NuGet layout <c>runtimes\win-x64\native\</c>, <c>runtimes\win-x86\native\</c>). Before
    /// the binding's first P/Invoke, <see cref="Resolve"/> loads the one of the process's bitness by
    /// its full path (LoadLibraryEx), and DllImport("oauthmail") then finds it already loaded. When
    /// neither folder has it, nothing is done: the usual search applies (next to the .exe, then
    /// PATH). On Linux and under Mono it does nothing (liboauthmail.so is found by the loader, or
    /// a dllmap).
    /// </summary>
    public static class OAuthMailNativeLibrary
    {
        private const uint LOAD_WITH_ALTERED_SEARCH_PATH = 0x00000008; // the DLL's folder for its own imports
        private static readonly object s_lock = new object();
        private static bool s_done;
        private static string s_loadedPath;
        private static string s_error;

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryEx(string lpLibFileName, IntPtr hFile, uint dwFlags);

        /// <summary>True on Windows (where Resolve acts).</summary>
        public static bool IsWindows
        {
            get { return Environment.OSVersion.Platform == PlatformID.Win32NT; }
        }

        /// <summary>The full path Resolve loaded, or null (nothing to load, not Windows, not yet run).</summary>
        public static string LoadedPath { get { lock (s_lock) return s_loadedPath; } }

        /// <summary>Why the DLL of this process's bitness found next to the assembly could not be loaded, or null.</summary>
        public static string LoadError { get { lock (s_lock) return s_error; } }

        /// <summary>
        /// The files Resolve tries, in order, under <paramref name="directory"/>: the process's
        /// architecture folder (x64 or x86), then the NuGet runtimes folder.
        /// </summary>
        public static IList<string> Candidates(string directory, bool is64BitProcess)
        {
            string arch = is64BitProcess ? "x64" : "x86";
            return new List<string>
            {
                Path.Combine(Path.Combine(directory, arch), "oauthmail.dll"),
                Path.Combine(Path.Combine(Path.Combine(Path.Combine(directory, "runtimes"), "win-" + arch), "native"), "oauthmail.dll"),
            };
        }

        /// <summary>
        /// Loads oauthmail.dll of the process's bitness from the folders above (once; the binding
        /// calls it before its first P/Invoke, so calling it yourself is only needed to see the
        /// outcome early). Returns the path loaded, or null when there was nothing to do. Throws
        /// DllNotFoundException (naming the file, the bitness and the system's error) when such a
        /// file exists but does not load; the binding's own call never throws (see LoadError).
        /// </summary>
        public static string Resolve()
        {
            TryResolve();
            lock (s_lock)
            {
                if (s_error != null) throw new DllNotFoundException(s_error);
                return s_loadedPath;
            }
        }

        internal static void TryResolve()
        {
            lock (s_lock)
            {
                if (s_done) return;
                s_done = true;
                if (!IsWindows) return;
                try
                {
                    string error;
                    s_loadedPath = ResolveIn(SearchDirectories(), IntPtr.Size == 8, LoadWindows, out error);
                    s_error = error;
                }
                catch (Exception ex)
                {
                    s_error = "oauthmail: looking for the native library failed: " + ex.Message;
                }
            }
        }

        /// <summary>
        /// The choice itself, apart from Windows (tests): the first candidate that exists in the
        /// first directory that has one is loaded with <paramref name="load"/> (IntPtr.Zero and a
        /// Win32 error code on failure). Returns its path, or null with <paramref name="error"/>
        /// set when it would not load, or null and no error when no candidate exists.
        /// </summary>
        internal static string ResolveIn(IEnumerable<string> directories, bool is64BitProcess,
                                         Func<string, KeyValuePair<IntPtr, int>> load, out string error)
        {
            error = null;
            foreach (string dir in directories)
            {
                if (string.IsNullOrEmpty(dir)) continue;
                foreach (string path in Candidates(dir, is64BitProcess))
                {
                    if (!File.Exists(path)) continue;
                    KeyValuePair<IntPtr, int> r = load(path);
                    if (r.Key != IntPtr.Zero) return path;
                    int bits = is64BitProcess ? 64 : 32;
                    error = "oauthmail: cannot load " + path + " into this " + bits + "-bit process (Windows error " +
                            r.Value.ToString(CultureInfo.InvariantCulture) +
                            (r.Value == 193 ? ": not a " + bits + "-bit DLL" : "") + ")";
                    return null;
                }
            }
            return null;
        }

        private static IEnumerable<string> SearchDirectories()
        {
            var dirs = new List<string>();
            string location = typeof(OAuthMailNativeLibrary).Assembly.Location;
            if (!string.IsNullOrEmpty(location)) dirs.Add(Path.GetDirectoryName(location));
            string baseDir = AppDomain.CurrentDomain.BaseDirectory;
            if (!string.IsNullOrEmpty(baseDir) && !dirs.Exists(d => string.Equals(d.TrimEnd('\\', '/'), baseDir.TrimEnd('\\', '/'), StringComparison.OrdinalIgnoreCase)))
                dirs.Add(baseDir);
            return dirs;
        }

        private static KeyValuePair<IntPtr, int> LoadWindows(string path)
        {
            IntPtr h = LoadLibraryEx(path, IntPtr.Zero, LOAD_WITH_ALTERED_SEARCH_PATH);
            return new KeyValuePair<IntPtr, int>(h, h == IntPtr.Zero ? Marshal.GetLastWin32Error() : 0);
        }
    }

    /// <summary>The C API, 1:1 with include/oauthmail.h (same names, exact types, Cdecl).</summary>
    internal static class Native
    {
        private const string Lib = "oauthmail"; // oauthmail.dll on Windows, liboauthmail.so on Linux

        // Runs before the first P/Invoke below (an explicit static constructor: not beforefieldinit).
        static Native()
        {
            OAuthMailNativeLibrary.TryResolve();
        }

        // typedef void (*om_token_cb)(void *user_data, const char *tokens_json);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void om_token_cb(IntPtr user_data, IntPtr tokens_json);

        // typedef void (*om_free_cb)(void *user_data);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void om_free_cb(IntPtr user_data);

        // typedef int32_t (*om_message_cb)(void *user_data, const struct om_message *message,
        //                                  const uint8_t *data, size_t len);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int om_message_cb(IntPtr user_data, IntPtr message, IntPtr data, UIntPtr len);

        // typedef void (*om_log_cb)(void *user_data, int32_t level, const char *message);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void om_log_cb(IntPtr user_data, int level, IntPtr message);

        // typedef int32_t (*om_tokens_lock_cb)(void *user_data, uint32_t timeout_ms,
        //                                      const char **out_tokens_json);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int om_tokens_lock_cb(IntPtr user_data, uint timeout_ms, IntPtr out_tokens_json);

        // typedef int32_t (*om_tokens_unlock_cb)(void *user_data, const char *tokens_json);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int om_tokens_unlock_cb(IntPtr user_data, IntPtr tokens_json);

        // The OM_STATUS_* values the binding itself tests (ints, as the functions return them).
        internal const int OM_STATUS_OK = 0;
        internal const int OM_STATUS_PENDING = 5;

        // OM_TOKEN_STORE_*: what the token store callbacks return.
        internal const int OM_TOKEN_STORE_OK = 0;
        internal const int OM_TOKEN_STORE_BUSY = 1;
        internal const int OM_TOKEN_STORE_FAILED = 2;

        // struct om_message: field order and types as in the header; natural alignment (4 bytes
        // of padding before `size`): 64 bytes on 64-bit, 52 on 32-bit Windows.
        [StructLayout(LayoutKind.Sequential)]
        internal struct om_message
        {
            public uint uid;            // uint32_t
            public uint uidvalidity;    // uint32_t
            public uint resync;         // uint32_t
            public ulong size;          // uint64_t
            public long internal_date;  // int64_t
            public IntPtr folder;       // const char *
            public IntPtr flags;        // const char *
            public IntPtr uidl;         // const char *
            public IntPtr parsed_json;  // const char * (NULL unless the fetch option "parse")
        }

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_new(IntPtr config_json, out AccountHandle out_account);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_free(IntPtr account);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_config_json(AccountHandle account, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_check(AccountHandle account, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_cancel(AccountHandle account);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_set_token_callback(AccountHandle account, om_token_cb callback,
                                                                 IntPtr user_data, om_free_cb free_user_data);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_authorize_start(AccountHandle account, IntPtr options_json, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_authorize_wait(AccountHandle account, uint timeout_ms);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_authorize_complete(AccountHandle account, IntPtr redirect_url, uint timeout_ms);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_authorize_cancel(AccountHandle account);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_device_start(AccountHandle account, uint timeout_ms, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_fetch(AccountHandle account, IntPtr options_json, om_message_cb callback,
                                            IntPtr user_data, out IntPtr out_summary_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_folders_list(AccountHandle account, uint timeout_ms, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_sync_state_export(AccountHandle account, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_sync_state_import(AccountHandle account, IntPtr state_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_fetch_to_directory(AccountHandle account, IntPtr options_json, IntPtr directory,
                                                         out IntPtr out_summary_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_servers_check(AccountHandle account, uint timeout_ms, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_last_error_message();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_last_error_detail();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_last_error_hint();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_last_error_status();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_init();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_shutdown();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint om_version_number();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void om_string_free(IntPtr s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_log_set_callback(om_log_cb callback, int max_level, IntPtr user_data,
                                                       om_free_cb free_user_data);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_log_write(int level, IntPtr message);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_send(AccountHandle account, IntPtr message_json, IntPtr options_json,
                                           out IntPtr out_result_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_send_raw(AccountHandle account, byte[] data, UIntPtr len, IntPtr options_json,
                                               out IntPtr out_result_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_send_batch(AccountHandle account, IntPtr messages_json, IntPtr options_json,
                                                 out IntPtr out_results_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_status_name(int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr om_status_description(int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_account_set_token_store(AccountHandle account, om_tokens_lock_cb lock_cb,
                                                              om_tokens_unlock_cb unlock_cb, IntPtr user_data,
                                                              om_free_cb free_user_data);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_get_access_token(AccountHandle account, uint timeout_ms, out IntPtr out_token,
                                                       out long out_expires_at);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_tokens_export(AccountHandle account, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_tokens_import(AccountHandle account, IntPtr tokens_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_tokens_revoke(AccountHandle account, uint timeout_ms);

        // byte[] in: pinned for the call (blittable), as om_send_raw.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_message_parse(byte[] data, UIntPtr len, IntPtr options_json, out IntPtr out_json);

        // *out_data: malloc'd by the library, freed with om_buffer_free (not om_string_free, not FreeHGlobal).
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_message_attachment(byte[] data, UIntPtr len, uint index, out IntPtr out_data,
                                                         out UIntPtr out_len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void om_buffer_free(IntPtr data);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_message_save_attachments(byte[] data, UIntPtr len, IntPtr directory,
                                                               IntPtr options_json, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_list(AccountHandle account, IntPtr options_json, out IntPtr out_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_fetch(AccountHandle account, IntPtr selection_json, om_message_cb callback,
                                                     IntPtr user_data, out uint out_count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_set_flags(AccountHandle account, IntPtr options_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_move(AccountHandle account, IntPtr options_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_copy(AccountHandle account, IntPtr options_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_messages_delete(AccountHandle account, IntPtr options_json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_folder_create(AccountHandle account, IntPtr name, uint timeout_ms);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int om_wait_for_mail(AccountHandle account, IntPtr options_json, uint timeout_ms,
                                                    out IntPtr out_json);
    }
}

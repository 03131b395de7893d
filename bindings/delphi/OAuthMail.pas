{ OAuthMail.pas — Delphi / Free Pascal binding of oauthmail (include/oauthmail.h).

  Two layers:
  1. The C API, one declaration per exported function, cdecl, with the exact C types
     (om_* names kept so that the header's documentation applies word for word).
  2. An idiomatic layer: TOAuthMail (library init, versions, log), TOAuthMailAccount (an
     account object; every call raises EOAuthMail on failure), IOAuthMailTokenStore (the
     host's database as the shared home of a mailbox's tokens), UTF-8 <-> string conversion,
     every library-owned string freed with om_string_free in a finally block.

  Compiles with Delphi 2009+ (Windows 32/64-bit: oauthmail.dll) and Free Pascal 3.2+ in
  Delphi mode (Linux: liboauthmail.so, Windows: oauthmail.dll, macOS: liboauthmail.dylib).
  Free Pascal on Unix: put `cthreads` (and `cwstring` for console output of non-ASCII text)
  first in the program's uses clause — the library calls back from its own threads (log
  callback) and the calls may be made from several threads. }
unit OAuthMail;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$MODESWITCH UNICODESTRINGS} // string = UnicodeString, as in Delphi 2009+
  {$H+}
{$ENDIF}

interface

uses
  SysUtils;

const
{$IFDEF MSWINDOWS}
  OAuthMailLib = 'oauthmail.dll';
{$ELSE}
  {$IFDEF DARWIN}
  OAuthMailLib = 'liboauthmail.dylib';
  {$ELSE}
  OAuthMailLib = 'oauthmail'; // FPC links -loauthmail: liboauthmail.so
  {$ENDIF}
{$ENDIF}

  { OM_VERSION_STRING / OM_VERSION_NUMBER of the header. Renamed: Pascal identifiers are
    case-insensitive, so OM_VERSION_NUMBER would clash with the function om_version_number. }
  OM_HEADER_VERSION_STRING = '0.1.0';
  OM_HEADER_VERSION_NUMBER = 100;

  { om_message_cb return values }
  OM_FETCH_CONTINUE = 0;
  OM_FETCH_STOP = 1;
  OM_FETCH_ERROR = 2;

  { log levels }
  OM_LOG_ERROR = 0;
  OM_LOG_WARN = 1;
  OM_LOG_INFO = 2;
  OM_LOG_DEBUG = 3;

  { om_tokens_lock_cb / om_tokens_unlock_cb return values }
  OM_TOKEN_STORE_OK = 0;      // the lock was taken (lock) or the set saved (unlock)
  OM_TOKEN_STORE_BUSY = 1;    // lock: another process held the lock for the whole timeout_ms
  OM_TOKEN_STORE_FAILED = 2;  // the storage failed (database unreachable, write refused...)

  { om_status values }
  OM_STATUS_OK = 0;
  OM_STATUS_INVALID_ARGUMENT = 1;
  OM_STATUS_INVALID_CONFIG = 2;
  OM_STATUS_INVALID_HANDLE = 3;
  OM_STATUS_NOT_INITIALIZED = 4;
  OM_STATUS_PENDING = 5;
  OM_STATUS_TIMEOUT = 6;
  OM_STATUS_CANCELLED = 7;
  OM_STATUS_AUTHORIZATION_REQUIRED = 8;
  OM_STATUS_ACCESS_DENIED = 9;
  OM_STATUS_PROVIDER_ERROR = 10;
  OM_STATUS_NETWORK_ERROR = 11;
  OM_STATUS_TLS_ERROR = 12;
  OM_STATUS_PORT_IN_USE = 13;
  OM_STATUS_STATE_MISMATCH = 14;
  OM_STATUS_WRONG_STATE = 15;
  OM_STATUS_REENTRANT_CALL = 16;
  OM_STATUS_IO_ERROR = 17;
  OM_STATUS_STALE_TOKENS = 18;
  OM_STATUS_UNSUPPORTED = 19;
  OM_STATUS_PROTOCOL_ERROR = 20;
  OM_STATUS_LOGIN_REJECTED = 21;
  { the tokens are shared (token_file, or a token store) and another process held their lock
    too long while refreshing them: nothing was changed; try again later }
  OM_STATUS_TOKENS_LOCKED = 22;
  { the connection died after a message was completely sent, before the server confirmed it:
    it may have been delivered and was NOT sent again; do not resend it automatically }
  OM_STATUS_DELIVERY_UNKNOWN = 23;
  OM_STATUS_PANIC = 99;

type
{$IF NOT DECLARED(PUTF8Char)}
  PUTF8Char = PAnsiChar; // Delphi before 2009
{$IFEND}
  PPUTF8Char = ^PUTF8Char; // char ** (library-owned string out-parameter)

  { typedef struct om_account om_account; (opaque) }
  Tom_account = record end;
  Pom_account = ^Tom_account;
  PPom_account = ^Pom_account;

  { typedef int32_t om_status; }
  om_status = Int32;

  { struct om_message: natural C alignment (uint64_t at offset 16 everywhere but i386 Linux,
    where GCC aligns it to 4: PACKRECORDS C follows the platform's C compiler). }
{$IFDEF FPC}{$PACKRECORDS C}{$ELSE}{$ALIGN 8}{$ENDIF}
  Tom_message = record
    uid: UInt32;            // IMAP: the UID. POP3: the message number in this session. Graph: 0
    uidvalidity: UInt32;    // the folder's UIDVALIDITY (Graph: 0)
    resync: UInt32;         // 1 when delivered again because the fetch state did not match
    size: UInt64;           // RFC822.SIZE
    internal_date: Int64;   // Unix seconds, 0 if unknown
    folder: PUTF8Char;      // UTF-8
    flags: PUTF8Char;       // space-separated, UTF-8; '' for POP3
    uidl: PUTF8Char;        // POP3 UIDL; Graph: the message id; '' for IMAP
  end;
{$IFDEF FPC}{$PACKRECORDS DEFAULT}{$ENDIF}
  Pom_message = ^Tom_message;

  { callbacks (all cdecl) }
  om_token_cb = procedure(user_data: Pointer; tokens_json: PUTF8Char); cdecl;
  om_free_cb = procedure(user_data: Pointer); cdecl;
  om_message_cb = function(user_data: Pointer; msg: Pom_message; data: PByte;
    len: NativeUInt): Int32; cdecl;
  om_log_cb = procedure(user_data: Pointer; level: Int32; msg: PUTF8Char); cdecl;
  om_tokens_lock_cb = function(user_data: Pointer; timeout_ms: UInt32;
    out_tokens_json: PPUTF8Char): Int32; cdecl;
  om_tokens_unlock_cb = function(user_data: Pointer; tokens_json: PUTF8Char): Int32; cdecl;

{ ---- layer 1: the C API ---- }

function om_account_new(config_json: PUTF8Char; out_account: PPom_account): om_status; cdecl; external OAuthMailLib;
function om_account_free(account: Pom_account): om_status; cdecl; external OAuthMailLib;
function om_account_config_json(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_account_check(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_account_cancel(account: Pom_account): om_status; cdecl; external OAuthMailLib;
function om_account_set_token_callback(account: Pom_account; callback: om_token_cb;
  user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl; external OAuthMailLib;
function om_authorize_start(account: Pom_account; options_json: PUTF8Char;
  out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_authorize_wait(account: Pom_account; timeout_ms: UInt32): om_status; cdecl; external OAuthMailLib;
function om_authorize_complete(account: Pom_account; redirect_url: PUTF8Char;
  timeout_ms: UInt32): om_status; cdecl; external OAuthMailLib;
function om_authorize_cancel(account: Pom_account): om_status; cdecl; external OAuthMailLib;
function om_device_start(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_fetch(account: Pom_account; options_json: PUTF8Char; callback: om_message_cb;
  user_data: Pointer; out_summary_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_folders_list(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_sync_state_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_sync_state_import(account: Pom_account; state_json: PUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_fetch_to_directory(account: Pom_account; options_json: PUTF8Char; directory: PUTF8Char;
  out_summary_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_servers_check(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_last_error_message: PUTF8Char; cdecl; external OAuthMailLib;
function om_last_error_detail: PUTF8Char; cdecl; external OAuthMailLib;
function om_last_error_hint: PUTF8Char; cdecl; external OAuthMailLib;
function om_last_error_status: om_status; cdecl; external OAuthMailLib;
function om_init: om_status; cdecl; external OAuthMailLib;
function om_shutdown: om_status; cdecl; external OAuthMailLib;
function om_version: PUTF8Char; cdecl; external OAuthMailLib;
function om_version_number: UInt32; cdecl; external OAuthMailLib;
procedure om_string_free(s: PUTF8Char); cdecl; external OAuthMailLib;
function om_log_set_callback(callback: om_log_cb; max_level: Int32; user_data: Pointer;
  free_user_data: om_free_cb): om_status; cdecl; external OAuthMailLib;
function om_log_write(level: Int32; msg: PUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_send(account: Pom_account; message_json: PUTF8Char; options_json: PUTF8Char;
  out_result_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_send_raw(account: Pom_account; data: PByte; len: NativeUInt; options_json: PUTF8Char;
  out_result_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_send_batch(account: Pom_account; messages_json: PUTF8Char; options_json: PUTF8Char;
  out_results_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_status_name(status: om_status): PUTF8Char; cdecl; external OAuthMailLib;
function om_status_description(status: om_status): PUTF8Char; cdecl; external OAuthMailLib;
function om_account_set_token_store(account: Pom_account; lock: om_tokens_lock_cb;
  unlock: om_tokens_unlock_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl; external OAuthMailLib;
function om_get_access_token(account: Pom_account; timeout_ms: UInt32; out_token: PPUTF8Char;
  out_expires_at: PInt64): om_status; cdecl; external OAuthMailLib;
function om_tokens_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_tokens_import(account: Pom_account; tokens_json: PUTF8Char): om_status; cdecl; external OAuthMailLib;
function om_tokens_revoke(account: Pom_account; timeout_ms: UInt32): om_status; cdecl; external OAuthMailLib;

{ ---- layer 2: the Pascal API ---- }

type
  { Raised by every failing call of the Pascal layer. Message = om_last_error_message, whole:
    what happened, the provider's or server's text in brackets, then ' — ' and the hint (or
    the status description when the library gave none). Show it as it is: Hint and Detail are
    those parts alone, for a dialog with separate fields — do not append them to Message. }
  EOAuthMail = class(Exception)
  private
    FStatus: Integer;
    FHint: string;
    FDetail: string;
    FText: string;
    FCall: string;
    procedure SetText(const AText: string);
  public
    constructor CreateStatus(AStatus: Integer; const AMessage, AHint, ADetail: string);
    { Reads om_last_error_* of this thread: call right after the failing om_* call. CallName
      (the om_* function, for logs) goes to Call, never into the message shown to users. }
    class function FromLastError(AStatus: Integer; const CallName: string = ''): EOAuthMail;
    function StatusName: string;
    { Status = OM_STATUS_DELIVERY_UNKNOWN: the message may have been delivered and was not sent
      again; do not resend it automatically. }
    function DeliveryUnknown: Boolean;
    property Status: Integer read FStatus;   // OM_STATUS_*
    property Hint: string read FHint;        // who must do what ('' if none)
    property Detail: string read FDetail;    // the provider's / server's own text ('' if none)
    property Call: string read FCall;        // the om_* function that failed (for logs; '' if unknown)
    { The message as a (Unicode) string. Same as Message in Delphi; in Free Pascal 3.2
      Exception.Message is an AnsiString, so it holds the UTF-8 bytes (code page CP_UTF8)
      and Text is the lossless copy, whatever DefaultSystemCodePage (ASCII under LANG=C). }
    property Text: string read FText;
  end;

  TFetchAction = (faContinue, faStop, faError); // OM_FETCH_CONTINUE / _STOP / _ERROR

  { om_message converted to Pascal types (strings copied: valid after the event). }
  TOAuthMailMessage = record
    Uid: UInt32;         // IMAP: the UID; POP3: the message number; Microsoft Graph: 0
    UidValidity: UInt32; // IMAP: the folder's UIDVALIDITY; Graph: 0
    Resync: Boolean;     // may have been delivered before (compare Message-IDs)
    Size: UInt64;
    InternalDate: Int64; // Unix seconds, 0 if unknown
    Folder: string;
    Flags: string;
    Uidl: string;        // POP3: the UIDL; Graph: the message id; '' for IMAP
  end;

  TOAuthMailAccount = class;

  { Runs on the thread that called Fetch, inside it. An exception raised here stops the
    fetch (the message is not accepted) and is re-raised by Fetch. Calling methods of the
    same account from here raises EOAuthMail(OM_STATUS_REENTRANT_CALL). }
  TOAuthMailMessageEvent = procedure(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
    const Data: TBytes; var Action: TFetchAction) of object;

  { Runs on the thread of the account call that saw the change (AccessToken,
    WaitAuthorization, ...), inside it. An exception raised here is re-raised by that call. }
  TOAuthMailTokensEvent = procedure(Sender: TOAuthMailAccount; const TokensJson: string) of object;

  { Log sink. May run on ANY thread, library threads included: keep it short, thread-safe,
    and never call blocking oauthmail functions from it. Exceptions are swallowed. }
  TOAuthMailLogProc = procedure(Level: Integer; const Msg: string);

  { The host's own storage of a mailbox's tokens — typically one row of its database — shared
    by every process and workstation using the mailbox: TOAuthMailAccount.SetTokenStore.
    Before every refresh (and revocation) the library calls TryLock, then Unlock once done,
    both on the thread of the account call that needs them, inside it. Do not call the account
    from them (EOAuthMail OM_STATUS_REENTRANT_CALL). }
  IOAuthMailTokenStore = interface
    ['{6E0C2C51-1F8B-4F3A-9C2E-3B7D5A4E9F10}']
    { Take the lock on the stored tokens, waiting at most TimeoutMs (e.g. StartTransaction +
      SELECT ... FOR UPDATE with that lock timeout, or a named mutex), and read them:
      StoredTokensJson = the stored token set JSON (as ExportTokens gave it), '' when nothing is
      stored yet. Return False when the lock was not taken in time (the account call raises
      EOAuthMail with OM_STATUS_TOKENS_LOCKED). Raise when the storage fails (the call raises
      EOAuthMail with OM_STATUS_IO_ERROR, your message appended). Unlock follows only True. }
    function TryLock(TimeoutMs: Cardinal; out StoredTokensJson: string): Boolean;
    { Save NewTokensJson when it is not '' (it replaces the stored set: it is newer), then
      release the lock (Commit). Release it even when the save fails, then raise. }
    procedure Unlock(const NewTokensJson: string);
  end;

  TOAuthMail = class
  public
    class procedure Init;     // om_init (reference-counted); raises on failure
    class procedure Shutdown; // om_shutdown; raises on failure (e.g. more calls than Init)
    class function Version: string;
    class function VersionNumber: Cardinal;
    class function StatusName(Status: Integer): string;
    class function StatusDescription(Status: Integer): string;
    { nil removes the log callback. When this returns, the previous Proc is not running on any
      thread and will not be called again. }
    class procedure SetLogProc(Proc: TOAuthMailLogProc; MaxLevel: Integer = OM_LOG_INFO);
    { Log sinks the library holds (0 or 1; each is released by the library's free function). }
    class function LogSinksAlive: Integer;
    class procedure LogWrite(Level: Integer; const Msg: string);
  end;

  TOAuthMailAccount = class
  private
    FHandle: Pom_account;
    FOnTokensChanged: TOAuthMailTokensEvent;
    procedure SetOnTokensChanged(const Value: TOAuthMailTokensEvent);
    procedure Check0(Status: om_status; const Context: string);
    class procedure RaiseDeferred;
    function TakeString(Status: om_status; var P: PUTF8Char; const Context: string): string;
  public
    { Raises EOAuthMail (OM_STATUS_INVALID_CONFIG names the key) on a bad configuration. }
    constructor Create(const ConfigJson: string);
    destructor Destroy; override;

    function ConfigJson: string;   // effective configuration, secrets masked
    function Check: string;        // registration check: JSON array of findings
    function ServersCheck(TimeoutMs: Cardinal = 0): string; // JSON array, one report per server

    { Starts the browser authorization and returns the authorization URL (show it when the
      browser did not open). InfoJson: the whole om_authorize_start result. Without
      OpenBrowser the account's configuration decides (open_browser, true by default: an admin
      may have set it to false); with it, this call overrides the configuration.
      Accounts without a user — "flow": "service_account" (a Google service account's key
      file) or "client_credentials" — have nothing to authorize: Authorize and
      StartDeviceAuthorization raise EOAuthMail OM_STATUS_WRONG_STATE, and AccessToken, Fetch
      and Send get their tokens by themselves. }
    function Authorize: string; overload;
    function Authorize(out InfoJson: string): string; overload;
    function Authorize(OpenBrowser: Boolean): string; overload;
    function Authorize(OpenBrowser: Boolean; out InfoJson: string): string; overload;
    function AuthorizeWithOptions(const OptionsJson: string): string; // returns the result JSON
    { OM_STATUS_OK or OM_STATUS_PENDING (call again); any other outcome raises EOAuthMail. }
    function WaitAuthorization(TimeoutMs: Cardinal): Integer;
    procedure CompleteAuthorization(const RedirectUrl: string; TimeoutMs: Cardinal = 0);
    procedure CancelAuthorization;
    function StartDeviceAuthorization(TimeoutMs: Cardinal = 0): string; // JSON: user_code, …

    function AccessToken(TimeoutMs: Cardinal = 0): string; overload;
    function AccessToken(out ExpiresAt: Int64; TimeoutMs: Cardinal = 0): string; overload;
    function ExportTokens: string;
    { False (nothing changed) when the tokens given are older than the ones held
      (OM_STATUS_STALE_TOKENS); other failures raise. }
    function ImportTokens(const TokensJson: string): Boolean;
    procedure RevokeTokens(TimeoutMs: Cardinal = 0);
    { Makes Store (your database) the place where this mailbox's tokens are shared with other
      processes and workstations (om_account_set_token_store); nil removes it. Do not also save
      tokens from OnTokensChanged then: a save outside the lock could overwrite a newer set.
      The account keeps a reference to Store until it is replaced or removed, or the account
      freed. Not with token_file (EOAuthMail OM_STATUS_WRONG_STATE). }
    procedure SetTokenStore(const Store: IOAuthMailTokenStore);

    { Returns the summary JSON. OptionsJson '' = defaults. OnMessage may be nil (accept all). }
    function Fetch(const OptionsJson: string; OnMessage: TOAuthMailMessageEvent): string;
    function FetchToDirectory(const OptionsJson, Directory: string): string;
    function Folders(TimeoutMs: Cardinal = 0): string;
    function ExportSyncState: string;
    procedure ImportSyncState(const StateJson: string);

    function Send(const MessageJson: string; const OptionsJson: string = ''): string;
    function SendRaw(const Data: TBytes; const OptionsJson: string = ''): string;
    function SendBatch(const MessagesJson: string; const OptionsJson: string = ''): string;

    { Cancels every operation in progress on the account (from another thread). }
    procedure Cancel;

    property Handle: Pom_account read FHandle;
    property OnTokensChanged: TOAuthMailTokensEvent read FOnTokensChanged write SetOnTokensChanged;
  end;

{ UTF-8 helpers. }
function OMToUtf8(const S: string): UTF8String;
function OMFromUtf8(P: PUTF8Char): string;
{ S as a JSON string literal, quotes included (non-ASCII kept as is; UTF-8 on the way out). }
function OMJsonString(const S: string): string;
{ The string value of the first "Key": "..." in Json ('' if absent or not a string). A small
  helper for the library's flat result objects, not a general JSON parser. }
function OMJsonGetString(const Json, Key: string): string;

implementation

{ ---- UTF-8 ---- }

function OMToUtf8(const S: string): UTF8String;
begin
  Result := UTF8Encode(S); // UnicodeString -> UTF-8 bytes (no code-page guessing)
end;

function OMFromUtf8(P: PUTF8Char): string;
var
  N: Integer;
  Q: PUTF8Char;
  R: UTF8String;
begin
  Result := '';
  if P = nil then Exit;
  Q := P;
  while Q^ <> #0 do Inc(Q);
  N := Q - P;
  if N = 0 then Exit;
  SetLength(R, N);
  Move(P^, R[1], N);
{$IFDEF FPC}
  Result := UTF8Decode(R);
{$ELSE}
  Result := UTF8ToString(R);
{$ENDIF}
end;

{ nil for '' (the C side takes NULL for "no options"); else the UTF-8 bytes kept alive by U. }
function OptPtr(const U: UTF8String): PUTF8Char;
begin
  if Length(U) = 0 then Result := nil else Result := PUTF8Char(U);
end;

function OMJsonString(const S: string): string;
const
  HexDigits: array[0..15] of Char = '0123456789abcdef';
var
  I: Integer;
  C: Char;
begin
  Result := '"';
  for I := 1 to Length(S) do
  begin
    C := S[I];
    case C of
      '"': Result := Result + '\"';
      '\': Result := Result + '\\';
      #8: Result := Result + '\b';
      #9: Result := Result + '\t';
      #10: Result := Result + '\n';
      #12: Result := Result + '\f';
      #13: Result := Result + '\r';
      #0..#7, #11, #14..#31:
        Result := Result + '\u00' + HexDigits[Ord(C) shr 4] + HexDigits[Ord(C) and 15];
    else
      Result := Result + C;
    end;
  end;
  Result := Result + '"';
end;

function OMJsonGetString(const Json, Key: string): string;
var
  I, N, Code: Integer;
  Pat: string;
begin
  Result := '';
  Pat := '"' + Key + '"';
  I := Pos(Pat, Json);
  if I = 0 then Exit;
  I := I + Length(Pat);
  N := Length(Json);
  while (I <= N) and CharInSet(Json[I], [' ', #9, #10, #13]) do Inc(I);
  if (I > N) or (Json[I] <> ':') then Exit;
  Inc(I);
  while (I <= N) and CharInSet(Json[I], [' ', #9, #10, #13]) do Inc(I);
  if (I > N) or (Json[I] <> '"') then Exit;
  Inc(I);
  while (I <= N) and (Json[I] <> '"') do
  begin
    if (Json[I] = '\') and (I < N) then
    begin
      Inc(I);
      case Json[I] of
        'n': Result := Result + #10;
        'r': Result := Result + #13;
        't': Result := Result + #9;
        'b': Result := Result + #8;
        'f': Result := Result + #12;
        'u':
          begin
            Code := StrToIntDef('$' + AnsiString(Copy(Json, I + 1, 4)), Ord('?'));
            Result := Result + Char(Code); // UTF-16 code unit: surrogate pairs come out right
            Inc(I, 4);
          end;
      else
        Result := Result + Json[I]; // \" \\ \/
      end;
    end
    else
      Result := Result + Json[I];
    Inc(I);
  end;
end;

{ ---- EOAuthMail ---- }

procedure EOAuthMail.SetText(const AText: string);
begin
  FText := AText;
{$IFDEF FPC}
  Message := UTF8Encode(AText); // RawByteString: stored as is, no conversion to the ANSI code page
{$ELSE}
  Message := AText;
{$ENDIF}
end;

constructor EOAuthMail.CreateStatus(AStatus: Integer; const AMessage, AHint, ADetail: string);
begin
  inherited Create('');
  SetText(AMessage);
  FStatus := AStatus;
  FHint := AHint;
  FDetail := ADetail;
end;

class function EOAuthMail.FromLastError(AStatus: Integer; const CallName: string): EOAuthMail;
var
  Msg: string;
begin
  // Read all three before anything else calls the library (each call clears them).
  Msg := OMFromUtf8(om_last_error_message);
  Result := EOAuthMail.CreateStatus(AStatus, '', OMFromUtf8(om_last_error_hint),
    OMFromUtf8(om_last_error_detail));
  if Msg = '' then
    Msg := OMFromUtf8(om_status_description(AStatus));
  Result.SetText(Msg); // the user's text: no C function name in it (see Call)
  Result.FCall := CallName;
end;

function EOAuthMail.StatusName: string;
begin
  Result := OMFromUtf8(om_status_name(FStatus));
end;

function EOAuthMail.DeliveryUnknown: Boolean;
begin
  Result := FStatus = OM_STATUS_DELIVERY_UNKNOWN;
end;

{ ---- TOAuthMail ---- }

type
  { The log callback's user data: the host's procedure, on the heap, released by the library
    (LogFree) once no thread can run it any more. }
  PLogSink = ^TLogSink;
  TLogSink = record
    Proc: TOAuthMailLogProc;
  end;

var
  GLogSinks: Integer = 0; // alive: handed to the library and not released yet

procedure LogTrampoline(user_data: Pointer; level: Int32; msg: PUTF8Char); cdecl;
begin
  try
    PLogSink(user_data)^.Proc(level, OMFromUtf8(msg));
  except
    // never let an exception unwind into the library
  end;
end;

procedure LogFree(user_data: Pointer); cdecl;
begin
  try
    Dispose(PLogSink(user_data));
    InterlockedDecrement(GLogSinks);
  except
  end;
end;

class procedure TOAuthMail.Init;
var
  St: om_status;
begin
  St := om_init;
  if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_init');
end;

class procedure TOAuthMail.Shutdown;
var
  St: om_status;
begin
  St := om_shutdown;
  if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_shutdown');
end;

class function TOAuthMail.Version: string;
begin
  Result := OMFromUtf8(om_version);
end;

class function TOAuthMail.VersionNumber: Cardinal;
begin
  Result := om_version_number;
end;

class function TOAuthMail.StatusName(Status: Integer): string;
begin
  Result := OMFromUtf8(om_status_name(Status));
end;

class function TOAuthMail.StatusDescription(Status: Integer): string;
begin
  Result := OMFromUtf8(om_status_description(Status));
end;

class procedure TOAuthMail.SetLogProc(Proc: TOAuthMailLogProc; MaxLevel: Integer);
var
  St: om_status;
  Sink: PLogSink;
  E: EOAuthMail;
begin
  if not Assigned(Proc) then
  begin
    // the library calls LogFree for the previous sink before returning
    St := om_log_set_callback(nil, MaxLevel, nil, nil);
    if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_log_set_callback');
    Exit;
  end;
  New(Sink);
  Sink^.Proc := Proc;
  InterlockedIncrement(GLogSinks);
  St := om_log_set_callback(LogTrampoline, MaxLevel, Sink, LogFree);
  if St <> OM_STATUS_OK then
  begin
    // refused (level out of range, called from the log callback): the library did not take
    // the sink and will not free it
    E := EOAuthMail.FromLastError(St, 'om_log_set_callback');
    Dispose(Sink);
    InterlockedDecrement(GLogSinks);
    raise E;
  end;
end;

class function TOAuthMail.LogSinksAlive: Integer;
begin
  Result := GLogSinks;
end;

class procedure TOAuthMail.LogWrite(Level: Integer; const Msg: string);
var
  U: UTF8String;
  St: om_status;
begin
  U := OMToUtf8(Msg);
  St := om_log_write(Level, PUTF8Char(U));
  if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_log_write');
end;

{ ---- TOAuthMailAccount ---- }

threadvar
  { An exception raised by OnTokensChanged, re-raised by the account call that ran the
    callback. Per thread: the callback runs inside the call, on the calling thread, and an
    account may be used from several threads at once. }
  GDeferred: TObject;
  { An exception raised by a token store (TryLock / Unlock) during the account call on this
    thread: its message is added to the EOAuthMail that call raises. }
  GStoreFailure: TObject;

procedure TokenTrampoline(user_data: Pointer; tokens_json: PUTF8Char); cdecl;
var
  Acc: TOAuthMailAccount;
  Ev: TOAuthMailTokensEvent;
begin
  Acc := TOAuthMailAccount(user_data);
  try
    Ev := Acc.FOnTokensChanged;
    if Assigned(Ev) then
      Ev(Acc, OMFromUtf8(tokens_json));
  except
    // keep the first one; re-raised by the account call that ran this callback
    if GDeferred = nil then
      GDeferred := TObject(AcquireExceptionObject);
  end;
end;

type
  PFetchContext = ^TFetchContext;
  TFetchContext = record
    Account: TOAuthMailAccount;
    Handler: TOAuthMailMessageEvent;
    Failure: TObject; // exception raised by the handler
  end;

function MessageTrampoline(user_data: Pointer; msg: Pom_message; data: PByte;
  len: NativeUInt): Int32; cdecl;
var
  Ctx: PFetchContext;
  M: TOAuthMailMessage;
  Bytes: TBytes;
  Action: TFetchAction;
begin
  Ctx := PFetchContext(user_data);
  Result := OM_FETCH_CONTINUE;
  if not Assigned(Ctx^.Handler) then Exit;
  try
    M.Uid := msg^.uid;
    M.UidValidity := msg^.uidvalidity;
    M.Resync := msg^.resync <> 0;
    M.Size := msg^.size;
    M.InternalDate := msg^.internal_date;
    M.Folder := OMFromUtf8(msg^.folder);
    M.Flags := OMFromUtf8(msg^.flags);
    M.Uidl := OMFromUtf8(msg^.uidl);
    SetLength(Bytes, len);
    if len > 0 then Move(data^, Bytes[0], len);
    Action := faContinue;
    Ctx^.Handler(Ctx^.Account, M, Bytes, Action);
    case Action of
      faContinue: Result := OM_FETCH_CONTINUE;
      faStop: Result := OM_FETCH_STOP;
    else
      Result := OM_FETCH_ERROR;
    end;
  except
    // an exception must not unwind through the library's frames
    Ctx^.Failure := TObject(AcquireExceptionObject);
    Result := OM_FETCH_ERROR;
  end;
end;

{ ---- token store ---- }

type
  { The token store callbacks' user data: the host's store (a counted reference, released by
    the library through StoreFree when the store is replaced or removed or the account freed)
    and the stored set handed to the library, kept alive from TryLock until Unlock. The
    library takes the store's lock for one refresh at a time per account. }
  PStoreBridge = ^TStoreBridge;
  TStoreBridge = record
    Store: IOAuthMailTokenStore;
    Held: UTF8String;
  end;

procedure KeepStoreFailure;
begin
  if GStoreFailure = nil then
    GStoreFailure := TObject(AcquireExceptionObject);
end;

function StoreLockTrampoline(user_data: Pointer; timeout_ms: UInt32;
  out_tokens_json: PPUTF8Char): Int32; cdecl;
var
  B: PStoreBridge;
  Stored: string;
begin
  B := PStoreBridge(user_data);
  try
    out_tokens_json^ := nil;
    Stored := '';
    if not B^.Store.TryLock(timeout_ms, Stored) then
    begin
      Result := OM_TOKEN_STORE_BUSY;
      Exit;
    end;
    try
      B^.Held := OMToUtf8(Stored);
    except
      // the lock is held, but after FAILED the library does not call Unlock: release it here
      try
        B^.Store.Unlock('');
      except
      end;
      raise;
    end;
    if Length(B^.Held) > 0 then
      out_tokens_json^ := PUTF8Char(B^.Held); // valid until StoreUnlockTrampoline
    Result := OM_TOKEN_STORE_OK;
  except
    // never let an exception unwind into the library: the call fails with OM_STATUS_IO_ERROR
    KeepStoreFailure;
    Result := OM_TOKEN_STORE_FAILED;
  end;
end;

function StoreUnlockTrampoline(user_data: Pointer; tokens_json: PUTF8Char): Int32; cdecl;
var
  B: PStoreBridge;
begin
  B := PStoreBridge(user_data);
  try
    try
      B^.Store.Unlock(OMFromUtf8(tokens_json)); // '' for NULL: nothing to save
    finally
      B^.Held := ''; // the library no longer reads the stored set
    end;
    Result := OM_TOKEN_STORE_OK;
  except
    KeepStoreFailure;
    Result := OM_TOKEN_STORE_FAILED;
  end;
end;

procedure StoreFree(user_data: Pointer); cdecl;
begin
  try
    Dispose(PStoreBridge(user_data)); // releases the reference to the host's store
  except
  end;
end;

function StoreFailureText(E: TObject): string;
begin
  if E is EOAuthMail then
    Result := EOAuthMail(E).Text
  else if E is Exception then
    Result := string(Exception(E).Message)
  else
    Result := string(E.ClassName);
end;

constructor TOAuthMailAccount.Create(const ConfigJson: string);
var
  U: UTF8String;
  St: om_status;
  H: Pom_account;
begin
  inherited Create;
  U := OMToUtf8(ConfigJson);
  H := nil;
  St := om_account_new(PUTF8Char(U), @H);
  if St <> OM_STATUS_OK then
    raise EOAuthMail.FromLastError(St, 'om_account_new'); // Destroy runs with FHandle = nil
  FHandle := H;
end;

destructor TOAuthMailAccount.Destroy;
begin
  if FHandle <> nil then
  begin
    // also drops the token callback (no free callback: Self outlives the handle) and the
    // token store (StoreFree releases the reference to it)
    om_account_free(FHandle);
    FHandle := nil;
  end;
  inherited Destroy;
end;

class procedure TOAuthMailAccount.RaiseDeferred;
var
  E: TObject;
begin
  FreeAndNil(GStoreFailure); // only reported with the failure it caused
  E := GDeferred;
  if E <> nil then
  begin
    GDeferred := nil;
    raise E;
  end;
end;

procedure TOAuthMailAccount.Check0(Status: om_status; const Context: string);
var
  E: EOAuthMail;
  StoreErr: TObject;
begin
  if Status <> OM_STATUS_OK then
  begin
    E := EOAuthMail.FromLastError(Status, Context); // first: reads the last error
    FreeAndNil(GDeferred); // the library's error wins
    StoreErr := GStoreFailure;
    GStoreFailure := nil;
    if StoreErr <> nil then
    begin
      // the host's own words (e.g. "database unreachable") after the library's
      E.SetText(E.Text + ' (' + StoreFailureText(StoreErr) + ')');
      StoreErr.Free;
    end;
    raise E;
  end;
  RaiseDeferred;
end;

{ P is a var parameter on purpose: Pascal does not fix the order in which arguments are
  evaluated, and TakeString(om_x(..., @P), P, ...) must read P after om_x wrote it. }
function TOAuthMailAccount.TakeString(Status: om_status; var P: PUTF8Char; const Context: string): string;
begin
  try
    Check0(Status, Context);   // reads the last error before om_string_free runs
    Result := OMFromUtf8(P);
  finally
    om_string_free(P);         // NULL-safe
    P := nil;
  end;
end;

procedure TOAuthMailAccount.SetOnTokensChanged(const Value: TOAuthMailTokensEvent);
var
  St: om_status;
begin
  FOnTokensChanged := Value; // kept here; the library holds only Self
  if Assigned(Value) then
    St := om_account_set_token_callback(FHandle, TokenTrampoline, Pointer(Self), nil)
  else
    St := om_account_set_token_callback(FHandle, nil, nil, nil);
  Check0(St, 'om_account_set_token_callback');
end;

function TOAuthMailAccount.ConfigJson: string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_account_config_json(FHandle, @P), P, 'om_account_config_json');
end;

function TOAuthMailAccount.Check: string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_account_check(FHandle, @P), P, 'om_account_check');
end;

function TOAuthMailAccount.ServersCheck(TimeoutMs: Cardinal): string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_servers_check(FHandle, TimeoutMs, @P), P, 'om_servers_check');
end;

function TOAuthMailAccount.AuthorizeWithOptions(const OptionsJson: string): string;
var
  U: UTF8String;
  P: PUTF8Char;
begin
  U := OMToUtf8(OptionsJson);
  P := nil;
  Result := TakeString(om_authorize_start(FHandle, OptPtr(U), @P), P, 'om_authorize_start');
end;

function TOAuthMailAccount.Authorize(OpenBrowser: Boolean; out InfoJson: string): string;
const
  Opt: array[Boolean] of string = ('{"open_browser": false}', '{"open_browser": true}');
begin
  InfoJson := AuthorizeWithOptions(Opt[OpenBrowser]);
  Result := OMJsonGetString(InfoJson, 'authorization_url');
end;

function TOAuthMailAccount.Authorize(OpenBrowser: Boolean): string;
var
  Info: string;
begin
  Result := Authorize(OpenBrowser, Info);
end;

function TOAuthMailAccount.Authorize(out InfoJson: string): string;
begin
  InfoJson := AuthorizeWithOptions(''); // no options: the configuration's open_browser applies
  Result := OMJsonGetString(InfoJson, 'authorization_url');
end;

function TOAuthMailAccount.Authorize: string;
var
  Info: string;
begin
  Result := Authorize(Info);
end;

function TOAuthMailAccount.WaitAuthorization(TimeoutMs: Cardinal): Integer;
begin
  Result := om_authorize_wait(FHandle, TimeoutMs);
  if (Result = OM_STATUS_OK) or (Result = OM_STATUS_PENDING) then
    RaiseDeferred
  else
    Check0(Result, 'om_authorize_wait');
end;

procedure TOAuthMailAccount.CompleteAuthorization(const RedirectUrl: string; TimeoutMs: Cardinal);
var
  U: UTF8String;
begin
  U := OMToUtf8(RedirectUrl);
  Check0(om_authorize_complete(FHandle, PUTF8Char(U), TimeoutMs), 'om_authorize_complete');
end;

procedure TOAuthMailAccount.CancelAuthorization;
begin
  Check0(om_authorize_cancel(FHandle), 'om_authorize_cancel');
end;

function TOAuthMailAccount.StartDeviceAuthorization(TimeoutMs: Cardinal): string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_device_start(FHandle, TimeoutMs, @P), P, 'om_device_start');
end;

function TOAuthMailAccount.AccessToken(out ExpiresAt: Int64; TimeoutMs: Cardinal): string;
var
  P: PUTF8Char;
  E: Int64;
begin
  P := nil;
  E := 0;
  Result := TakeString(om_get_access_token(FHandle, TimeoutMs, @P, @E), P, 'om_get_access_token');
  ExpiresAt := E;
end;

function TOAuthMailAccount.AccessToken(TimeoutMs: Cardinal): string;
var
  E: Int64;
begin
  Result := AccessToken(E, TimeoutMs);
end;

function TOAuthMailAccount.ExportTokens: string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_tokens_export(FHandle, @P), P, 'om_tokens_export');
end;

function TOAuthMailAccount.ImportTokens(const TokensJson: string): Boolean;
var
  U: UTF8String;
  St: om_status;
begin
  U := OMToUtf8(TokensJson);
  St := om_tokens_import(FHandle, PUTF8Char(U));
  Result := St <> OM_STATUS_STALE_TOKENS;
  if Result then Check0(St, 'om_tokens_import') else RaiseDeferred;
end;

procedure TOAuthMailAccount.RevokeTokens(TimeoutMs: Cardinal);
begin
  Check0(om_tokens_revoke(FHandle, TimeoutMs), 'om_tokens_revoke');
end;

procedure TOAuthMailAccount.SetTokenStore(const Store: IOAuthMailTokenStore);
var
  B: PStoreBridge;
  St: om_status;
  E: EOAuthMail;
begin
  if Store = nil then
  begin
    Check0(om_account_set_token_store(FHandle, nil, nil, nil, nil), 'om_account_set_token_store');
    Exit;
  end;
  New(B);
  B^.Store := Store;
  St := om_account_set_token_store(FHandle, StoreLockTrampoline, StoreUnlockTrampoline, B, StoreFree);
  if St <> OM_STATUS_OK then
  begin
    // refused: the library did not take B and will not free it
    E := EOAuthMail.FromLastError(St, 'om_account_set_token_store');
    Dispose(B);
    raise E;
  end;
  RaiseDeferred;
end;

function TOAuthMailAccount.Fetch(const OptionsJson: string; OnMessage: TOAuthMailMessageEvent): string;
var
  U: UTF8String;
  P: PUTF8Char;
  St: om_status;
  Ctx: TFetchContext;
  E: TObject;
begin
  U := OMToUtf8(OptionsJson);
  P := nil;
  Ctx.Account := Self;
  Ctx.Handler := OnMessage;
  Ctx.Failure := nil;
  // Ctx lives on this stack frame: the callback only runs inside om_fetch, on this thread.
  St := om_fetch(FHandle, OptPtr(U), MessageTrampoline, @Ctx, @P);
  if Ctx.Failure <> nil then
  begin
    FreeAndNil(GStoreFailure);
    FreeAndNil(GDeferred);
    om_string_free(P);
    E := Ctx.Failure;
    raise E; // the handler's own exception, not the OM_STATUS_CANCELLED it caused
  end;
  Result := TakeString(St, P, 'om_fetch');
end;

function TOAuthMailAccount.FetchToDirectory(const OptionsJson, Directory: string): string;
var
  U, D: UTF8String;
  P: PUTF8Char;
begin
  U := OMToUtf8(OptionsJson);
  D := OMToUtf8(Directory);
  P := nil;
  Result := TakeString(om_fetch_to_directory(FHandle, OptPtr(U), PUTF8Char(D), @P), P,
    'om_fetch_to_directory');
end;

function TOAuthMailAccount.Folders(TimeoutMs: Cardinal): string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_folders_list(FHandle, TimeoutMs, @P), P, 'om_folders_list');
end;

function TOAuthMailAccount.ExportSyncState: string;
var
  P: PUTF8Char;
begin
  P := nil;
  Result := TakeString(om_sync_state_export(FHandle, @P), P, 'om_sync_state_export');
end;

procedure TOAuthMailAccount.ImportSyncState(const StateJson: string);
var
  U: UTF8String;
begin
  U := OMToUtf8(StateJson);
  Check0(om_sync_state_import(FHandle, PUTF8Char(U)), 'om_sync_state_import');
end;

function TOAuthMailAccount.Send(const MessageJson, OptionsJson: string): string;
var
  M, O: UTF8String;
  P: PUTF8Char;
begin
  M := OMToUtf8(MessageJson);
  O := OMToUtf8(OptionsJson);
  P := nil;
  Result := TakeString(om_send(FHandle, PUTF8Char(M), OptPtr(O), @P), P, 'om_send');
end;

function TOAuthMailAccount.SendRaw(const Data: TBytes; const OptionsJson: string): string;
var
  O: UTF8String;
  P: PUTF8Char;
  D: PByte;
begin
  O := OMToUtf8(OptionsJson);
  P := nil;
  if Length(Data) > 0 then D := @Data[0] else D := nil;
  Result := TakeString(om_send_raw(FHandle, D, NativeUInt(Length(Data)), OptPtr(O), @P), P,
    'om_send_raw');
end;

function TOAuthMailAccount.SendBatch(const MessagesJson, OptionsJson: string): string;
var
  M, O: UTF8String;
  P: PUTF8Char;
begin
  M := OMToUtf8(MessagesJson);
  O := OMToUtf8(OptionsJson);
  P := nil;
  Result := TakeString(om_send_batch(FHandle, PUTF8Char(M), OptPtr(O), @P), P, 'om_send_batch');
end;

procedure TOAuthMailAccount.Cancel;
begin
  Check0(om_account_cancel(FHandle), 'om_account_cancel');
end;

initialization
  IsMultiThread := True; // the library calls back from its threads; several host threads may call it

end.

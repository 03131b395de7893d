{ OAuthMail.pas — Delphi / Free Pascal binding of oauthmail (include/oauthmail.h).

  Two layers:
  1. The C API, one declaration per exported function, cdecl, with the exact C types
     (om_* names kept so that the header's documentation applies word for word). The library
     is loaded on first use (LoadLibrary / GetProcAddress on Windows, dlopen through the RTL's
     dynlibs unit under Free Pascal), not linked: a program starts without it, and the first
     call that needs it raises EOAuthMailLibrary naming the file, the bitness and the places
     searched.
  2. An idiomatic layer: TOAuthMail (library init, versions, log; message bytes parsed,
     attachments read and saved), TOAuthMailAccount (an account object; every call raises
     EOAuthMail on failure), IOAuthMailTokenStore (the host's database as the shared home of a
     mailbox's tokens), records for parsed and listed messages and the browsing calls' options
     (read from and written to the library's JSON inside the unit), UTF-8 <-> string
     conversion, every library-owned string freed with om_string_free (and buffer with
     om_buffer_free) in a finally block.

  Compiles with Delphi 2009+ (Windows 32/64-bit: oauthmail.dll) and Free Pascal 3.2+
  (Linux: liboauthmail.so, Windows: oauthmail.dll, macOS: liboauthmail.dylib). The unit sets
  its own mode; programs may be in Delphi mode or plain Free Pascal (mode objfpc, $H+): event
  handlers and IOAuthMailTokenStore methods take OMString (= UnicodeString) parameters, which
  is `string` in Delphi mode and must be written OMString (or UnicodeString) in objfpc mode.
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
  { The library's file name, loaded on first use: next to the program first (Windows: next to
    the module holding this unit), then through the system's search. }
{$IFDEF MSWINDOWS}
  OAuthMailLib = 'oauthmail.dll';
{$ELSE}
  {$IFDEF DARWIN}
  OAuthMailLib = 'liboauthmail.dylib';
  {$ELSE}
  OAuthMailLib = 'liboauthmail.so';
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
  { The unit's string type (UnicodeString, whatever the program's mode): the parameters of
    the event handlers and of IOAuthMailTokenStore. In a Delphi-mode program it is `string`;
    in a mode objfpc, $H+ program (string = AnsiString) write OMString there. }
{$IFDEF FPC}
  OMString = UnicodeString;
{$ELSE}
  OMString = string;
{$ENDIF}

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
    parsed_json: PUTF8Char; // with the fetch option "parse": true, the om_message_parse JSON; else nil
  end;
{$IFDEF FPC}{$PACKRECORDS DEFAULT}{$ENDIF}
  Pom_message = ^Tom_message;
  PPOMByte = ^PByte;        // uint8_t ** (library-owned buffer out-parameter: om_buffer_free)
  POMSize = ^NativeUInt;    // size_t *

  { callbacks (all cdecl) }
  om_token_cb = procedure(user_data: Pointer; tokens_json: PUTF8Char); cdecl;
  om_free_cb = procedure(user_data: Pointer); cdecl;
  om_message_cb = function(user_data: Pointer; msg: Pom_message; data: PByte;
    len: NativeUInt): Int32; cdecl;
  om_log_cb = procedure(user_data: Pointer; level: Int32; msg: PUTF8Char); cdecl;
  om_tokens_lock_cb = function(user_data: Pointer; timeout_ms: UInt32;
    out_tokens_json: PPUTF8Char): Int32; cdecl;
  om_tokens_unlock_cb = function(user_data: Pointer; tokens_json: PUTF8Char): Int32; cdecl;

{ ---- layer 1: the C API ----
  Each om_* below calls the library's function of the same name. The library is loaded, and
  every function resolved, by the first of them called (or TOAuthMail.LoadLibrary); a missing
  library or function raises EOAuthMailLibrary there. }

function om_account_new(config_json: PUTF8Char; out_account: PPom_account): om_status; cdecl;
function om_account_free(account: Pom_account): om_status; cdecl;
function om_account_config_json(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
function om_account_check(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
function om_account_cancel(account: Pom_account): om_status; cdecl;
function om_account_set_token_callback(account: Pom_account; callback: om_token_cb;
  user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
function om_authorize_start(account: Pom_account; options_json: PUTF8Char;
  out_json: PPUTF8Char): om_status; cdecl;
function om_authorize_wait(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
function om_authorize_complete(account: Pom_account; redirect_url: PUTF8Char;
  timeout_ms: UInt32): om_status; cdecl;
function om_authorize_cancel(account: Pom_account): om_status; cdecl;
function om_device_start(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
function om_fetch(account: Pom_account; options_json: PUTF8Char; callback: om_message_cb;
  user_data: Pointer; out_summary_json: PPUTF8Char): om_status; cdecl;
function om_folders_list(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
function om_sync_state_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
function om_sync_state_import(account: Pom_account; state_json: PUTF8Char): om_status; cdecl;
function om_fetch_to_directory(account: Pom_account; options_json: PUTF8Char; directory: PUTF8Char;
  out_summary_json: PPUTF8Char): om_status; cdecl;
function om_servers_check(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
function om_last_error_message: PUTF8Char; cdecl;
function om_last_error_detail: PUTF8Char; cdecl;
function om_last_error_hint: PUTF8Char; cdecl;
function om_last_error_status: om_status; cdecl;
function om_init: om_status; cdecl;
function om_shutdown: om_status; cdecl;
function om_version: PUTF8Char; cdecl;
function om_version_number: UInt32; cdecl;
procedure om_string_free(s: PUTF8Char); cdecl;
function om_log_set_callback(callback: om_log_cb; max_level: Int32; user_data: Pointer;
  free_user_data: om_free_cb): om_status; cdecl;
function om_log_write(level: Int32; msg: PUTF8Char): om_status; cdecl;
function om_send(account: Pom_account; message_json: PUTF8Char; options_json: PUTF8Char;
  out_result_json: PPUTF8Char): om_status; cdecl;
function om_send_raw(account: Pom_account; data: PByte; len: NativeUInt; options_json: PUTF8Char;
  out_result_json: PPUTF8Char): om_status; cdecl;
function om_send_batch(account: Pom_account; messages_json: PUTF8Char; options_json: PUTF8Char;
  out_results_json: PPUTF8Char): om_status; cdecl;
function om_status_name(status: om_status): PUTF8Char; cdecl;
function om_status_description(status: om_status): PUTF8Char; cdecl;
function om_account_set_token_store(account: Pom_account; lock: om_tokens_lock_cb;
  unlock: om_tokens_unlock_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
function om_get_access_token(account: Pom_account; timeout_ms: UInt32; out_token: PPUTF8Char;
  out_expires_at: PInt64): om_status; cdecl;
function om_tokens_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
function om_tokens_import(account: Pom_account; tokens_json: PUTF8Char): om_status; cdecl;
function om_tokens_revoke(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
{ parsing message bytes (no account, no network, no om_init needed) }
function om_message_parse(data: PByte; len: NativeUInt; options_json: PUTF8Char;
  out_json: PPUTF8Char): om_status; cdecl;
function om_message_attachment(data: PByte; len: NativeUInt; index: UInt32; out_data: PPOMByte;
  out_len: POMSize): om_status; cdecl;
procedure om_buffer_free(data: PByte); cdecl;
function om_message_save_attachments(data: PByte; len: NativeUInt; directory: PUTF8Char;
  options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
{ browsing and acting on a mailbox }
function om_messages_list(account: Pom_account; options_json: PUTF8Char;
  out_json: PPUTF8Char): om_status; cdecl;
function om_messages_fetch(account: Pom_account; selection_json: PUTF8Char; callback: om_message_cb;
  user_data: Pointer; out_count: PCardinal): om_status; cdecl;
function om_messages_set_flags(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
function om_messages_move(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
function om_messages_copy(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
function om_messages_delete(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
function om_folder_create(account: Pom_account; name: PUTF8Char; timeout_ms: UInt32): om_status; cdecl;
function om_wait_for_mail(account: Pom_account; options_json: PUTF8Char; timeout_ms: UInt32;
  out_json: PPUTF8Char): om_status; cdecl;

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

  { Raised by the first call that needs the library when it cannot be loaded: missing, of the
    other bitness, or too old (a function missing). Not an EOAuthMail: there is no status, the
    library never ran. The message names the file, the program's bitness and the places
    searched, in order. }
  EOAuthMailLibrary = class(Exception)
  private
    FLibraryName: string;
    FBits: Integer;
    FSearched: string;
    FReason: string;
    FText: string;
  public
    constructor CreateLoad(const ALibraryName, ASearched, AReason: string);
    property LibraryName: string read FLibraryName; // 'oauthmail.dll', 'liboauthmail.so'...
    property Bits: Integer read FBits;              // 32 or 64: the library must be the same
    property Searched: string read FSearched;       // where it was looked for, in order
    property Reason: string read FReason;           // the system's own error text
    property Text: string read FText;               // the message, as EOAuthMail.Text
  end;

  TFetchAction = (faContinue, faStop, faError); // OM_FETCH_CONTINUE / _STOP / _ERROR

  TOMStrings = array of string;
  TOMUids = array of UInt32;

  { One address of an address header: Name decoded (RFC 2047, any charset), '' when none. }
  TOMAddress = record
    Name: string;
    Address: string;
  end;
  TOMAddresses = array of TOMAddress;

  { One attachment or inline part of a message, as TOAuthMail.ParseMessage lists it. }
  TOMAttachment = record
    Index: Integer;       // what TOAuthMail.GetAttachment takes
    FileName: string;     // decoded (RFC 2231, RFC 2047); '' when the part has none
    ContentType: string;  // 'type/subtype', lower case
    Size: Int64;          // decoded size in bytes
    ContentId: string;    // without <> (what cid: URLs of the HTML body name); '' when none
    Disposition: string;  // 'attachment', 'inline' or ''
    IsMessage: Boolean;   // a message attached whole (message/rfc822)
    IsTnef: Boolean;      // Outlook's winmail.dat (listed, not unpacked)
  end;
  TOMAttachments = array of TOMAttachment;

  { An attachment written by TOAuthMail.SaveAttachments: the part as listed, and the file. }
  TOMSavedAttachment = record
    Index: Integer;
    FileName: string;     // the decoded name (the file's own name may differ: made safe, unique)
    ContentType: string;
    Size: Int64;
    ContentId: string;
    Disposition: string;
    IsMessage: Boolean;
    IsTnef: Boolean;
    Path: string;         // the file written
  end;
  TOMSavedAttachments = array of TOMSavedAttachment;

  { A message parsed (om_message_parse). Absent values are '' / 0 / empty arrays. To is a
    reserved word: write it &To (Msg.&To[0].Address). }
  TOMParsedMessage = record
    From, Sender, ReplyTo, &To, Cc, Bcc: TOMAddresses;
    Subject: string;         // decoded
    Date: TDateTime;         // the Date header in UTC; 0 when missing or unreadable
    DateUnix: Int64;         // the same instant in Unix seconds; 0 when none
    DateText: string;        // RFC 3339 with the sender's offset ('2026-02-04T09:30:00+01:00')
    MessageId: string;       // without <>
    InReplyTo: TOMStrings;   // message ids without <>
    References: TOMStrings;
    Text: string;            // the plain-text body (UTF-16 here, whatever the message's charset)
    TextFromHtml: Boolean;   // Text was derived from Html (the message had no text part)
    Html: string;            // the HTML body as sent
    Attachments: TOMAttachments; // inline parts included
    Encrypted: Boolean;      // S/MIME or PGP encrypted: the bodies are not readable here
    Signed: Boolean;
    Security: string;        // 'smime', 'pgp' or ''
    HasTnef: Boolean;        // an attachment is a winmail.dat
    Unreadable: Boolean;     // the bytes held no message header at all
  end;

  { One message of a listing (TOAuthMailAccount.ListMessages): what a mail window shows,
    without downloading the message. }
  TOMListedMessage = record
    Id: string;              // what TOMSelection.Ids takes (IMAP: the UID in decimal)
    Uid: UInt32;             // IMAP: the UID; POP3: the message number; Graph, Gmail: 0
    Flags: TOMStrings;       // '\Seen', '\Flagged', keywords... (OMHasFlag)
    Size: Int64;
    InternalDate: Int64;     // when the server received it, Unix seconds (0 if unknown)
    HasAttachments: Boolean;
    From, Sender, ReplyTo, &To, Cc, Bcc: TOMAddresses;
    Subject: string;
    Date: TDateTime;         // UTC; 0 when none
    DateUnix: Int64;
    DateText: string;
    MessageId: string;
    InReplyTo: TOMStrings;
    References: TOMStrings;
  end;
  TOMListedMessages = array of TOMListedMessage;

  { One page of a listing. }
  TOMMessagePage = record
    Folder: string;
    UidValidity: UInt32;     // IMAP: the folder's UIDVALIDITY (give it back in TOMSelection); else 0
    Total: Int64;            // messages matching, all pages; -1 when the server does not say
    NextCursor: string;      // TOMListOptions.Cursor for the next page; '' on the last one
    Messages: TOMListedMessages;
  end;

  TOMTriState = (tsAny, tsYes, tsNo);
  TOMListOrder = (loNewestFirst, loOldestFirst);

  { Search criteria of a listing: every one set must match. }
  TOMSearch = record
    Unseen: TOMTriState;     // tsYes: unread only; tsNo: read only
    Flagged: TOMTriState;
    Answered: TOMTriState;
    Since: TDateTime;        // received on or after this day; 0 = any
    Before: TDateTime;       // received before this day; 0 = any
    From, &To, Subject, Text: string; // case-insensitive substrings; '' = any
    Keyword: string;         // IMAP keyword, Graph category, Gmail label
    Larger: Int64;           // bytes; 0 = any
    Smaller: Int64;          // bytes; 0 = any
  end;

  { What ListMessages lists: OMListOptions gives the defaults. }
  TOMListOptions = record
    Folder: string;          // '' = INBOX
    Search: TOMSearch;
    Uids: string;            // IMAP: a UID set such as '1:500'; '' = all
    Limit: Integer;          // messages per page, 1..1000; 0 = 100
    Cursor: string;          // the previous page's NextCursor
    Order: TOMListOrder;
    TimeoutMs: Cardinal;     // bound on the call; 0 = none beyond the account's timeout_secs per read
  end;

  { Chosen messages of one folder, by Ids (a listing's Id) or, IMAP only, by Uids:
    OMSelection / OMSelectionUids. }
  TOMSelection = record
    Folder: string;          // '' = INBOX
    Ids: TOMStrings;
    Uids: TOMUids;
    UidValidity: UInt32;     // IMAP: refused when the folder's changed since; 0 = not checked
    TimeoutMs: Cardinal;     // 0 = none
  end;

  TOMWaitOptions = record
    Folder: string;          // '' = INBOX
    PollIntervalSecs: Cardinal; // when IDLE is not available; 0 = 60
    IdleRefreshSecs: Cardinal;  // IDLE re-issued after; 0 = 1500
    PollOnly: Boolean;
  end;

  TOMWaitResult = record
    NewMail: Boolean;        // False: the time was up
    Folder: string;
    Method: string;          // 'idle' or 'poll'
    Reconnects: Integer;
  end;

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
    { With the fetch option "parse": true (Fetch, FetchToDirectory) or FetchMessages' Parse:
      HasParsed, the message parsed, and the JSON it came from (to store); else False, '' }
    HasParsed: Boolean;
    Parsed: TOMParsedMessage;
    ParsedJson: string;
  end;

  TOAuthMailAccount = class;

  { Runs on the thread that called Fetch, inside it. An exception raised here stops the
    fetch (the message is not accepted) and is re-raised by Fetch. Calling methods of the
    same account from here raises EOAuthMail(OM_STATUS_REENTRANT_CALL). }
  TOAuthMailMessageEvent = procedure(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
    const Data: TBytes; var Action: TFetchAction) of object;

  { Runs on the thread of the account call that saw the change (AccessToken,
    WaitAuthorization, ...), inside it. An exception raised here is re-raised by that call. }
  TOAuthMailTokensEvent = procedure(Sender: TOAuthMailAccount; const TokensJson: OMString) of object;

  { Log sink. May run on ANY thread, library threads included: keep it short, thread-safe,
    and never call blocking oauthmail functions from it. Exceptions are swallowed.
    TOAuthMailLogProc: a plain procedure (TOAuthMail.SetLogProc); TOAuthMailLogEvent: a
    method (TOAuthMail.SetLogEvent). }
  TOAuthMailLogProc = procedure(Level: Integer; const Msg: OMString);
  TOAuthMailLogEvent = procedure(Level: Integer; const Msg: OMString) of object;

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
    function TryLock(TimeoutMs: Cardinal; out StoredTokensJson: OMString): Boolean;
    { Save NewTokensJson when it is not '' (it replaces the stored set: it is newer), then
      release the lock (Commit). Release it even when the save fails, then raise. }
    procedure Unlock(const NewTokensJson: OMString);
  end;

  TOAuthMail = class
  public
    { Loads the library now instead of at the first call: FileName when given (a path: only
      there), else OAuthMailLib next to the program (Windows: next to the module holding this
      unit), then through the system's search (Windows: the DLL search order, PATH last; Unix:
      LD_LIBRARY_PATH, the run path, the loader's cache, /lib, /usr/lib). Raises
      EOAuthMailLibrary when it cannot, and nothing is kept: a later call tries again. Once
      loaded, the library stays for the process (later calls do nothing). }
    class procedure LoadLibrary(const FileName: string = '');
    class function LibraryLoaded: Boolean;
    { The file loaded ('' before): a full path, or OAuthMailLib when the system found it. }
    class function LibraryFileName: string;

    class procedure Init;     // om_init (reference-counted); raises on failure
    class procedure Shutdown; // om_shutdown; raises on failure (e.g. more calls than Init)
    class function Version: string;
    class function VersionNumber: Cardinal;
    class function StatusName(Status: Integer): string;
    class function StatusDescription(Status: Integer): string;
    { nil removes the log callback. When this returns, the previous Proc is not running on any
      thread and will not be called again. }
    class procedure SetLogProc(Proc: TOAuthMailLogProc; MaxLevel: Integer = OM_LOG_INFO);
    { The same with a method (an object's handler, e.g. a form's); nil removes the log callback.
      One log callback at a time: SetLogEvent replaces a SetLogProc and the other way round.
      The object must outlive the handler: remove it (nil) before freeing the object. }
    class procedure SetLogEvent(Handler: TOAuthMailLogEvent; MaxLevel: Integer = OM_LOG_INFO);
    { Log sinks the library holds (0 or 1; each is released by the library's free function). }
    class function LogSinksAlive: Integer;
    class procedure LogWrite(Level: Integer; const Msg: string);

    { Message bytes from anywhere (Fetch, a .eml file, a database): no account, no network,
      no Init needed, any thread. Malformed mail still gives what could be read. }
    class function ParseMessage(const Data: TBytes; IncludeText: Boolean = True;
      IncludeHtml: Boolean = True): TOMParsedMessage;
    { The om_message_parse JSON itself (to store); OptionsJson '' = everything. }
    class function ParseMessageJson(const Data: TBytes; const OptionsJson: string = ''): string;
    { A record from that JSON (ParseMessageJson, TOAuthMailMessage.ParsedJson, the .json files
      FetchToDirectory writes with "parse": true). }
    class function ParsedMessageFromJson(const Json: string): TOMParsedMessage;
    { The decoded bytes of attachment Index (TOMAttachment.Index); a message attached whole
      gives its bytes. EOAuthMail OM_STATUS_INVALID_ARGUMENT when there is no such index. }
    class function GetAttachment(const Data: TBytes; Index: Integer): TBytes;
    { Writes every attachment into Directory (must exist) under names made safe for every
      system, never replacing a file (' (2)' added); IncludeInline False skips the parts marked
      inline. EOAuthMail OM_STATUS_IO_ERROR when the directory is missing or a write fails. }
    class function SaveAttachments(const Data: TBytes; const Directory: string;
      IncludeInline: Boolean = True): TOMSavedAttachments;
  end;

  TOAuthMailAccount = class
  private
    FHandle: Pom_account;
    FOnTokensChanged: TOAuthMailTokensEvent;
    procedure SetOnTokensChanged(const Value: TOAuthMailTokensEvent);
    procedure Check0(Status: om_status; const Context: string);
    class procedure RaiseDeferred;
    class procedure DropDeferred;
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
    { Raises EOAuthMail on failure like every other call: OM_STATUS_STALE_TOKENS (nothing
      changed) when the tokens given are older than the ones held. }
    procedure ImportTokens(const TokensJson: string);
    { The same, but False instead of raising for OM_STATUS_STALE_TOKENS (other failures raise). }
    function TryImportTokens(const TokensJson: string): Boolean;
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

    { ---- browsing and acting on the mailbox (not the fetch state: these leave "new" mail new) ----
      All block; Cancel from another thread ends them with OM_STATUS_CANCELLED. POP3 has no
      flags, folders or moves: EOAuthMail OM_STATUS_UNSUPPORTED. }

    { One page of a folder's messages, read-only (nothing is marked read). }
    function ListMessages(const Options: TOMListOptions): TOMMessagePage; overload;
    function ListMessages(const Folder: string = ''; Limit: Integer = 0): TOMMessagePage; overload;
    { Hands the chosen messages to OnMessage as Fetch does (Parse: Msg.Parsed filled); returns
      how many were delivered. A chosen message that no longer exists is skipped; faStop ends
      it early. Read with BODY.PEEK unless MarkSeen. }
    function FetchMessages(const Selection: TOMSelection; OnMessage: TOAuthMailMessageEvent;
      Parse: Boolean = False; MarkSeen: Boolean = False): Integer;
    { Add/Remove: 'seen', 'flagged', 'answered', 'draft' or keywords (Graph categories,
      Gmail labels). }
    procedure SetFlags(const Selection: TOMSelection; const Add: array of string;
      const Remove: array of string);
    { Into ToFolder ('Clients/Société'), created when missing. }
    procedure MoveMessages(const Selection: TOMSelection; const ToFolder: string);
    procedure CopyMessages(const Selection: TOMSelection; const ToFolder: string);
    { IMAP: \Deleted and expunged (only these); Graph: to Deleted Items; Gmail: to the trash. }
    procedure DeleteMessages(const Selection: TOMSelection);
    { Parts separated by '/'; an existing folder is not an error. }
    procedure CreateFolder(const Name: string; TimeoutMs: Cardinal = 0);
    { Returns as soon as a message arrives in the folder (NewMail True) or after TimeoutMs
      (NewMail False). IMAP IDLE when offered, else polling. Blocks: run it on a worker
      thread, then Fetch; Cancel from another thread ends it (EOAuthMail OM_STATUS_CANCELLED). }
    function WaitForMail(const Folder: string; TimeoutMs: Cardinal): TOMWaitResult; overload;
    function WaitForMail(const Options: TOMWaitOptions; TimeoutMs: Cardinal): TOMWaitResult; overload;

    { Cancels every operation in progress on the account (from another thread). }
    procedure Cancel;

    property Handle: Pom_account read FHandle;
    property OnTokensChanged: TOAuthMailTokensEvent read FOnTokensChanged write SetOnTokensChanged;
  end;

{ Defaults for the browsing calls' records (Pascal leaves a local record's numbers unset). }
function OMListOptions(const Folder: string = ''; Limit: Integer = 0): TOMListOptions;
function OMSelection(const Folder: string; const Ids: array of string): TOMSelection;
function OMSelectionUids(const Folder: string; const Uids: array of UInt32;
  UidValidity: UInt32 = 0): TOMSelection;
function OMWaitOptions(const Folder: string = ''): TOMWaitOptions;
{ Flags holds Flag ('\Seen', '\Flagged', a keyword), compared ignoring case. }
function OMHasFlag(const Flags: TOMStrings; const Flag: string): Boolean;

{ UTF-8 helpers. }
function OMToUtf8(const S: string): UTF8String;
function OMFromUtf8(P: PUTF8Char): string;
{ S as a JSON string literal, quotes included (non-ASCII kept as is; UTF-8 on the way out). }
function OMJsonString(const S: string): string;
{ The string value of the first "Key": "..." in Json ('' if absent or not a string). A small
  helper for the library's flat result objects, not a general JSON parser. }
function OMJsonGetString(const Json, Key: string): string;

implementation

uses
{$IFDEF MSWINDOWS}
  Windows,
{$ELSE}
  {$IFDEF FPC}
  dynlibs,
  {$ENDIF}
{$ENDIF}
  SyncObjs;

{ ---- the library, loaded on first use ---- }

const
  OMP_account_new = 0;
  OMP_account_free = 1;
  OMP_account_config_json = 2;
  OMP_account_check = 3;
  OMP_account_cancel = 4;
  OMP_account_set_token_callback = 5;
  OMP_authorize_start = 6;
  OMP_authorize_wait = 7;
  OMP_authorize_complete = 8;
  OMP_authorize_cancel = 9;
  OMP_device_start = 10;
  OMP_fetch = 11;
  OMP_folders_list = 12;
  OMP_sync_state_export = 13;
  OMP_sync_state_import = 14;
  OMP_fetch_to_directory = 15;
  OMP_servers_check = 16;
  OMP_last_error_message = 17;
  OMP_last_error_detail = 18;
  OMP_last_error_hint = 19;
  OMP_last_error_status = 20;
  OMP_init = 21;
  OMP_shutdown = 22;
  OMP_version = 23;
  OMP_version_number = 24;
  OMP_string_free = 25;
  OMP_log_set_callback = 26;
  OMP_log_write = 27;
  OMP_send = 28;
  OMP_send_raw = 29;
  OMP_send_batch = 30;
  OMP_status_name = 31;
  OMP_status_description = 32;
  OMP_account_set_token_store = 33;
  OMP_get_access_token = 34;
  OMP_tokens_export = 35;
  OMP_tokens_import = 36;
  OMP_tokens_revoke = 37;
  OMP_message_parse = 38;
  OMP_message_attachment = 39;
  OMP_buffer_free = 40;
  OMP_message_save_attachments = 41;
  OMP_messages_list = 42;
  OMP_messages_fetch = 43;
  OMP_messages_set_flags = 44;
  OMP_messages_move = 45;
  OMP_messages_copy = 46;
  OMP_messages_delete = 47;
  OMP_folder_create = 48;
  OMP_wait_for_mail = 49;
  OMProcCount = 50;
  OMProcNames: array[0..OMProcCount - 1] of PAnsiChar = (
    'om_account_new',
    'om_account_free',
    'om_account_config_json',
    'om_account_check',
    'om_account_cancel',
    'om_account_set_token_callback',
    'om_authorize_start',
    'om_authorize_wait',
    'om_authorize_complete',
    'om_authorize_cancel',
    'om_device_start',
    'om_fetch',
    'om_folders_list',
    'om_sync_state_export',
    'om_sync_state_import',
    'om_fetch_to_directory',
    'om_servers_check',
    'om_last_error_message',
    'om_last_error_detail',
    'om_last_error_hint',
    'om_last_error_status',
    'om_init',
    'om_shutdown',
    'om_version',
    'om_version_number',
    'om_string_free',
    'om_log_set_callback',
    'om_log_write',
    'om_send',
    'om_send_raw',
    'om_send_batch',
    'om_status_name',
    'om_status_description',
    'om_account_set_token_store',
    'om_get_access_token',
    'om_tokens_export',
    'om_tokens_import',
    'om_tokens_revoke',
    'om_message_parse',
    'om_message_attachment',
    'om_buffer_free',
    'om_message_save_attachments',
    'om_messages_list',
    'om_messages_fetch',
    'om_messages_set_flags',
    'om_messages_move',
    'om_messages_copy',
    'om_messages_delete',
    'om_folder_create',
    'om_wait_for_mail');


type
{$IF DEFINED(MSWINDOWS) OR NOT DEFINED(FPC)}
  TOMLibHandle = HMODULE;
{$ELSE}
  TOMLibHandle = TLibHandle;
{$IFEND}

const
  OM_LOAD_WITH_ALTERED_SEARCH_PATH = $00000008; // LoadLibraryEx: the DLL's folder for its own imports

var
  GLibLock: TCriticalSection;
  GLoaded: Boolean = False;    // set once GProc is filled, never cleared
  GLibFile: string = '';
  GProc: array[0..OMProcCount - 1] of Pointer;

{ The message of an exception as a (Unicode) string kept whole: in Free Pascal 3.2
  Exception.Message is an AnsiString, so it gets the UTF-8 bytes (see EOAuthMail.Text). }
procedure SetExceptionText(E: Exception; const AText: string);
begin
{$IFDEF FPC}
  E.Message := UTF8Encode(AText); // RawByteString: stored as is, no conversion to the ANSI code page
{$ELSE}
  E.Message := AText;
{$ENDIF}
end;

function ProgramBits: Integer;
begin
  Result := SizeOf(Pointer) * 8;
end;

constructor EOAuthMailLibrary.CreateLoad(const ALibraryName, ASearched, AReason: string);
begin
  inherited Create('');
  FLibraryName := ALibraryName;
  FBits := ProgramBits;
  FSearched := ASearched;
  FReason := AReason;
  FText := 'oauthmail: cannot load ' + ALibraryName + ' for this ' + string(IntToStr(FBits)) +
    '-bit program (it needs the ' + string(IntToStr(FBits)) + '-bit library). Searched: ' +
    ASearched + '. Error: ' + AReason;
  SetExceptionText(Self, FText);
end;

{ The folder the library is looked for first: the module holding this unit (the .exe, or the
  DLL/package it is linked into) on Windows, the program's on other systems. }
function OMModuleDir: string;
{$IFDEF MSWINDOWS}
var
  Buf: array[0..4095] of WideChar;
  N: DWORD;
  W: UnicodeString;
begin
  N := GetModuleFileNameW(HInstance, @Buf[0], Length(Buf));
  SetString(W, PWideChar(@Buf[0]), N);
  Result := ExtractFilePath(string(W));
end;
{$ELSE}
begin
  Result := ExtractFilePath(ParamStr(0));
end;
{$ENDIF}

{$IFDEF MSWINDOWS}
{ The system's text of a Windows error (in the user's language), its %1 filled with FileName,
  then the number. Not SysErrorMessage: Free Pascal's calls FormatMessageW without
  FORMAT_MESSAGE_IGNORE_INSERTS and gets nothing for a text with an insert, such as error 193's
  "%1 is not a valid Win32 application." (the other bitness). }
function OMWinErrorText(Err: DWORD; const FileName: string): string;
var
  Buf: array[0..1023] of WideChar;
  N: DWORD;
  I: Integer;
  W: UnicodeString;
begin
  N := FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM or FORMAT_MESSAGE_IGNORE_INSERTS, nil, Err, 0,
    @Buf[0], Length(Buf), nil);
  while (N > 0) and ((Buf[N - 1] = #13) or (Buf[N - 1] = #10) or (Buf[N - 1] = ' ')) do Dec(N);
  SetString(W, PWideChar(@Buf[0]), N);
  Result := string(W);
  I := Pos('%1', Result);
  if I > 0 then Result := Copy(Result, 1, I - 1) + FileName + Copy(Result, I + 2, MaxInt);
  if Result <> '' then Result := Result + ' ';
  Result := Result + '(Windows error ' + string(IntToStr(Err)) + ')';
end;

{ The full path of a loaded module (what LoadLibraryExW found for a bare name). }
function OMModuleFileName(H: HMODULE): string;
var
  Buf: array[0..4095] of WideChar;
  N: DWORD;
  W: UnicodeString;
begin
  N := GetModuleFileNameW(H, @Buf[0], Length(Buf));
  SetString(W, PWideChar(@Buf[0]), N);
  Result := string(W);
end;
{$ENDIF}

{ Loads FileName (a path, or a bare name for the system's search); 0 and the system's error
  text in Reason when it cannot. FileName comes back as the file tried (on Windows, a path made
  absolute with backslashes). }
function OMTryLoad(var FileName: string; out Reason: string): TOMLibHandle;
{$IFDEF MSWINDOWS}
var
  Flags, Err: DWORD;
  I: Integer;
begin
  Reason := '';
  if (Pos('\', FileName) > 0) or (Pos('/', FileName) > 0) then
  begin
    // LOAD_WITH_ALTERED_SEARCH_PATH (the DLL's own folder for its imports) needs a full path
    // written with backslashes: with a relative path its behaviour is undefined, and with '/'
    // the folder is not taken (the DLL's imports are then not found: error 126)
    for I := 1 to Length(FileName) do
      if FileName[I] = '/' then FileName[I] := '\';
    FileName := ExpandFileName(FileName);
    Flags := OM_LOAD_WITH_ALTERED_SEARCH_PATH;
  end
  else
    Flags := 0;
  Result := LoadLibraryExW(PWideChar(UnicodeString(FileName)), 0, Flags);
  if Result = 0 then
  begin
    Err := GetLastError;
    Reason := OMWinErrorText(Err, ExtractFileName(FileName));
    if Err = ERROR_BAD_EXE_FORMAT then // 193
      Reason := FileName + ' is not a ' + string(IntToStr(ProgramBits)) + '-bit DLL (the ' +
        string(IntToStr(ProgramBits)) + '-bit oauthmail.dll is needed): ' + Reason
    else if ((Err = ERROR_MOD_NOT_FOUND) or (Err = ERROR_PROC_NOT_FOUND)) and FileExists(FileName) then
      // 126 / 127 for a file that is there: something it imports is missing, not the file
      Reason := FileName + ' is there, but a DLL or a function it imports is missing: ' +
        'oauthmail.dll needs Windows 10 or Windows Server 2016 or later (ProcessPrng in ' +
        'bcryptprimitives.dll, WaitOnAddress): ' + Reason;
  end;
end;
{$ELSE}
begin
  Reason := '';
{$IFDEF FPC}
  Result := dynlibs.LoadLibrary(UnicodeString(FileName));
  if Result = NilHandle then
  begin
    Result := 0;
    Reason := string(GetLoadErrorStr);
  end;
{$ELSE}
  Result := SafeLoadLibrary(FileName);
  if Result = 0 then Reason := string(SysErrorMessage(GetLastOSError));
{$ENDIF}
  if Pos('wrong ELF class', Reason) > 0 then
    Reason := Reason + ' (a library of the other bitness: this program needs the ' +
      string(IntToStr(ProgramBits)) + '-bit one)';
end;
{$ENDIF}

function OMGetProc(H: TOMLibHandle; Name: PAnsiChar): Pointer;
begin
{$IF DEFINED(FPC) AND NOT DEFINED(MSWINDOWS)}
  Result := GetProcedureAddress(H, AnsiString(Name));
{$ELSE}
  Result := GetProcAddress(H, Name);
{$IFEND}
end;

procedure OMUnload(H: TOMLibHandle);
begin
{$IF DEFINED(FPC) AND NOT DEFINED(MSWINDOWS)}
  UnloadLibrary(H);
{$ELSE}
  FreeLibrary(H);
{$IFEND}
end;

function SystemSearchText: string;
begin
{$IFDEF MSWINDOWS}
  Result := OAuthMailLib + ' through the Windows DLL search (the program''s folder, the system ' +
    'folders, the Windows folder, the current folder, then PATH)';
{$ELSE}
  {$IFDEF DARWIN}
  Result := OAuthMailLib + ' through the dynamic loader''s search (DYLD_LIBRARY_PATH=' +
    string(GetEnvironmentVariable('DYLD_LIBRARY_PATH')) + ', the program''s run path, /usr/lib)';
  {$ELSE}
  Result := OAuthMailLib + ' through the dynamic loader''s search (LD_LIBRARY_PATH=' +
    string(GetEnvironmentVariable('LD_LIBRARY_PATH')) +
    ', the program''s run path, /etc/ld.so.cache, /lib, /usr/lib)';
  {$ENDIF}
{$ENDIF}
end;

{ Loads the library (Explicit: only that file) and resolves every function, once. }
procedure OMLoad(const Explicit: string);
var
  H: TOMLibHandle;
  FileName, Local, Searched, Reason, Missing: string;
  Procs: array[0..OMProcCount - 1] of Pointer;
  I: Integer;
begin
  GLibLock.Enter;
  try
    if GLoaded then Exit;
    if Explicit <> '' then
    begin
      FileName := Explicit;
      H := OMTryLoad(FileName, Reason);
      Searched := FileName;
    end
    else
    begin
      Local := OMModuleDir + OAuthMailLib;
      if FileExists(Local) then
      begin
        // there, but unusable (other bitness...): say so rather than load another copy
        FileName := Local;
        Searched := Local;
        H := OMTryLoad(FileName, Reason);
      end
      else
      begin
        FileName := OAuthMailLib;
        Searched := Local + ' (not there), then ' + SystemSearchText;
        H := OMTryLoad(FileName, Reason);
      end;
    end;
    if H = 0 then
      raise EOAuthMailLibrary.CreateLoad(OAuthMailLib, Searched, Reason);
    Missing := '';
    for I := 0 to OMProcCount - 1 do
    begin
      Procs[I] := OMGetProc(H, OMProcNames[I]);
      if Procs[I] = nil then
      begin
        if Missing <> '' then Missing := Missing + ', ';
        Missing := Missing + string(AnsiString(OMProcNames[I]));
      end;
    end;
    if Missing <> '' then
    begin
      OMUnload(H);
      raise EOAuthMailLibrary.CreateLoad(OAuthMailLib, FileName, FileName +
        ' lacks ' + Missing + ' (an older oauthmail than this unit, ' + OM_HEADER_VERSION_STRING +
        ', or another library of that name)');
    end;
    for I := 0 to OMProcCount - 1 do GProc[I] := Procs[I];
{$IFDEF MSWINDOWS}
    FileName := OMModuleFileName(H); // the file Windows loaded (a bare name: found where)
{$ENDIF}
    GLibFile := FileName;
{$IFDEF FPC}
    WriteBarrier; // GProc before GLoaded, for the threads that read GLoaded without the lock
{$ENDIF}
    GLoaded := True;
  finally
    GLibLock.Leave;
  end;
end;

function OMProc(Index: Integer): Pointer;
begin
  if not GLoaded then OMLoad('');
{$IFDEF FPC}
  ReadBarrier;
{$ENDIF}
  Result := GProc[Index];
end;

type
  T_om_account_new = function(config_json: PUTF8Char; out_account: PPom_account): om_status; cdecl;
  T_om_account_free = function(account: Pom_account): om_status; cdecl;
  T_om_account_config_json = function(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
  T_om_account_check = function(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
  T_om_account_cancel = function(account: Pom_account): om_status; cdecl;
  T_om_account_set_token_callback = function(account: Pom_account; callback: om_token_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
  T_om_authorize_start = function(account: Pom_account; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
  T_om_authorize_wait = function(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
  T_om_authorize_complete = function(account: Pom_account; redirect_url: PUTF8Char; timeout_ms: UInt32): om_status; cdecl;
  T_om_authorize_cancel = function(account: Pom_account): om_status; cdecl;
  T_om_device_start = function(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
  T_om_fetch = function(account: Pom_account; options_json: PUTF8Char; callback: om_message_cb; user_data: Pointer; out_summary_json: PPUTF8Char): om_status; cdecl;
  T_om_folders_list = function(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
  T_om_sync_state_export = function(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
  T_om_sync_state_import = function(account: Pom_account; state_json: PUTF8Char): om_status; cdecl;
  T_om_fetch_to_directory = function(account: Pom_account; options_json: PUTF8Char; directory: PUTF8Char; out_summary_json: PPUTF8Char): om_status; cdecl;
  T_om_servers_check = function(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
  T_om_last_error_message = function: PUTF8Char; cdecl;
  T_om_last_error_detail = function: PUTF8Char; cdecl;
  T_om_last_error_hint = function: PUTF8Char; cdecl;
  T_om_last_error_status = function: om_status; cdecl;
  T_om_init = function: om_status; cdecl;
  T_om_shutdown = function: om_status; cdecl;
  T_om_version = function: PUTF8Char; cdecl;
  T_om_version_number = function: UInt32; cdecl;
  T_om_string_free = procedure(s: PUTF8Char); cdecl;
  T_om_log_set_callback = function(callback: om_log_cb; max_level: Int32; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
  T_om_log_write = function(level: Int32; msg: PUTF8Char): om_status; cdecl;
  T_om_send = function(account: Pom_account; message_json: PUTF8Char; options_json: PUTF8Char; out_result_json: PPUTF8Char): om_status; cdecl;
  T_om_send_raw = function(account: Pom_account; data: PByte; len: NativeUInt; options_json: PUTF8Char; out_result_json: PPUTF8Char): om_status; cdecl;
  T_om_send_batch = function(account: Pom_account; messages_json: PUTF8Char; options_json: PUTF8Char; out_results_json: PPUTF8Char): om_status; cdecl;
  T_om_status_name = function(status: om_status): PUTF8Char; cdecl;
  T_om_status_description = function(status: om_status): PUTF8Char; cdecl;
  T_om_account_set_token_store = function(account: Pom_account; lock: om_tokens_lock_cb; unlock: om_tokens_unlock_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
  T_om_get_access_token = function(account: Pom_account; timeout_ms: UInt32; out_token: PPUTF8Char; out_expires_at: PInt64): om_status; cdecl;
  T_om_tokens_export = function(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
  T_om_tokens_import = function(account: Pom_account; tokens_json: PUTF8Char): om_status; cdecl;
  T_om_tokens_revoke = function(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
  T_om_message_parse = function(data: PByte; len: NativeUInt; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
  T_om_message_attachment = function(data: PByte; len: NativeUInt; index: UInt32; out_data: PPOMByte; out_len: POMSize): om_status; cdecl;
  T_om_buffer_free = procedure(data: PByte); cdecl;
  T_om_message_save_attachments = function(data: PByte; len: NativeUInt; directory: PUTF8Char; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
  T_om_messages_list = function(account: Pom_account; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
  T_om_messages_fetch = function(account: Pom_account; selection_json: PUTF8Char; callback: om_message_cb; user_data: Pointer; out_count: PCardinal): om_status; cdecl;
  T_om_messages_set_flags = function(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
  T_om_messages_move = function(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
  T_om_messages_copy = function(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
  T_om_messages_delete = function(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
  T_om_folder_create = function(account: Pom_account; name: PUTF8Char; timeout_ms: UInt32): om_status; cdecl;
  T_om_wait_for_mail = function(account: Pom_account; options_json: PUTF8Char; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;

function om_account_new(config_json: PUTF8Char; out_account: PPom_account): om_status; cdecl;
begin
  Result := T_om_account_new(OMProc(OMP_account_new))(config_json, out_account);
end;

function om_account_free(account: Pom_account): om_status; cdecl;
begin
  Result := T_om_account_free(OMProc(OMP_account_free))(account);
end;

function om_account_config_json(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_account_config_json(OMProc(OMP_account_config_json))(account, out_json);
end;

function om_account_check(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_account_check(OMProc(OMP_account_check))(account, out_json);
end;

function om_account_cancel(account: Pom_account): om_status; cdecl;
begin
  Result := T_om_account_cancel(OMProc(OMP_account_cancel))(account);
end;

function om_account_set_token_callback(account: Pom_account; callback: om_token_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
begin
  Result := T_om_account_set_token_callback(OMProc(OMP_account_set_token_callback))(account, callback, user_data, free_user_data);
end;

function om_authorize_start(account: Pom_account; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_authorize_start(OMProc(OMP_authorize_start))(account, options_json, out_json);
end;

function om_authorize_wait(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
begin
  Result := T_om_authorize_wait(OMProc(OMP_authorize_wait))(account, timeout_ms);
end;

function om_authorize_complete(account: Pom_account; redirect_url: PUTF8Char; timeout_ms: UInt32): om_status; cdecl;
begin
  Result := T_om_authorize_complete(OMProc(OMP_authorize_complete))(account, redirect_url, timeout_ms);
end;

function om_authorize_cancel(account: Pom_account): om_status; cdecl;
begin
  Result := T_om_authorize_cancel(OMProc(OMP_authorize_cancel))(account);
end;

function om_device_start(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_device_start(OMProc(OMP_device_start))(account, timeout_ms, out_json);
end;

function om_fetch(account: Pom_account; options_json: PUTF8Char; callback: om_message_cb; user_data: Pointer; out_summary_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_fetch(OMProc(OMP_fetch))(account, options_json, callback, user_data, out_summary_json);
end;

function om_folders_list(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_folders_list(OMProc(OMP_folders_list))(account, timeout_ms, out_json);
end;

function om_sync_state_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_sync_state_export(OMProc(OMP_sync_state_export))(account, out_json);
end;

function om_sync_state_import(account: Pom_account; state_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_sync_state_import(OMProc(OMP_sync_state_import))(account, state_json);
end;

function om_fetch_to_directory(account: Pom_account; options_json: PUTF8Char; directory: PUTF8Char; out_summary_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_fetch_to_directory(OMProc(OMP_fetch_to_directory))(account, options_json, directory, out_summary_json);
end;

function om_servers_check(account: Pom_account; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_servers_check(OMProc(OMP_servers_check))(account, timeout_ms, out_json);
end;

function om_last_error_message: PUTF8Char; cdecl;
begin
  Result := T_om_last_error_message(OMProc(OMP_last_error_message))();
end;

function om_last_error_detail: PUTF8Char; cdecl;
begin
  Result := T_om_last_error_detail(OMProc(OMP_last_error_detail))();
end;

function om_last_error_hint: PUTF8Char; cdecl;
begin
  Result := T_om_last_error_hint(OMProc(OMP_last_error_hint))();
end;

function om_last_error_status: om_status; cdecl;
begin
  Result := T_om_last_error_status(OMProc(OMP_last_error_status))();
end;

function om_init: om_status; cdecl;
begin
  Result := T_om_init(OMProc(OMP_init))();
end;

function om_shutdown: om_status; cdecl;
begin
  Result := T_om_shutdown(OMProc(OMP_shutdown))();
end;

function om_version: PUTF8Char; cdecl;
begin
  Result := T_om_version(OMProc(OMP_version))();
end;

function om_version_number: UInt32; cdecl;
begin
  Result := T_om_version_number(OMProc(OMP_version_number))();
end;

procedure om_string_free(s: PUTF8Char); cdecl;
begin
  T_om_string_free(OMProc(OMP_string_free))(s);
end;

function om_log_set_callback(callback: om_log_cb; max_level: Int32; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
begin
  Result := T_om_log_set_callback(OMProc(OMP_log_set_callback))(callback, max_level, user_data, free_user_data);
end;

function om_log_write(level: Int32; msg: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_log_write(OMProc(OMP_log_write))(level, msg);
end;

function om_send(account: Pom_account; message_json: PUTF8Char; options_json: PUTF8Char; out_result_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_send(OMProc(OMP_send))(account, message_json, options_json, out_result_json);
end;

function om_send_raw(account: Pom_account; data: PByte; len: NativeUInt; options_json: PUTF8Char; out_result_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_send_raw(OMProc(OMP_send_raw))(account, data, len, options_json, out_result_json);
end;

function om_send_batch(account: Pom_account; messages_json: PUTF8Char; options_json: PUTF8Char; out_results_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_send_batch(OMProc(OMP_send_batch))(account, messages_json, options_json, out_results_json);
end;

function om_status_name(status: om_status): PUTF8Char; cdecl;
begin
  Result := T_om_status_name(OMProc(OMP_status_name))(status);
end;

function om_status_description(status: om_status): PUTF8Char; cdecl;
begin
  Result := T_om_status_description(OMProc(OMP_status_description))(status);
end;

function om_account_set_token_store(account: Pom_account; lock: om_tokens_lock_cb; unlock: om_tokens_unlock_cb; user_data: Pointer; free_user_data: om_free_cb): om_status; cdecl;
begin
  Result := T_om_account_set_token_store(OMProc(OMP_account_set_token_store))(account, lock, unlock, user_data, free_user_data);
end;

function om_get_access_token(account: Pom_account; timeout_ms: UInt32; out_token: PPUTF8Char; out_expires_at: PInt64): om_status; cdecl;
begin
  Result := T_om_get_access_token(OMProc(OMP_get_access_token))(account, timeout_ms, out_token, out_expires_at);
end;

function om_tokens_export(account: Pom_account; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_tokens_export(OMProc(OMP_tokens_export))(account, out_json);
end;

function om_tokens_import(account: Pom_account; tokens_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_tokens_import(OMProc(OMP_tokens_import))(account, tokens_json);
end;

function om_tokens_revoke(account: Pom_account; timeout_ms: UInt32): om_status; cdecl;
begin
  Result := T_om_tokens_revoke(OMProc(OMP_tokens_revoke))(account, timeout_ms);
end;

function om_message_parse(data: PByte; len: NativeUInt; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_message_parse(OMProc(OMP_message_parse))(data, len, options_json, out_json);
end;

function om_message_attachment(data: PByte; len: NativeUInt; index: UInt32; out_data: PPOMByte; out_len: POMSize): om_status; cdecl;
begin
  Result := T_om_message_attachment(OMProc(OMP_message_attachment))(data, len, index, out_data, out_len);
end;

procedure om_buffer_free(data: PByte); cdecl;
begin
  T_om_buffer_free(OMProc(OMP_buffer_free))(data);
end;

function om_message_save_attachments(data: PByte; len: NativeUInt; directory: PUTF8Char; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_message_save_attachments(OMProc(OMP_message_save_attachments))(data, len, directory, options_json, out_json);
end;

function om_messages_list(account: Pom_account; options_json: PUTF8Char; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_messages_list(OMProc(OMP_messages_list))(account, options_json, out_json);
end;

function om_messages_fetch(account: Pom_account; selection_json: PUTF8Char; callback: om_message_cb; user_data: Pointer; out_count: PCardinal): om_status; cdecl;
begin
  Result := T_om_messages_fetch(OMProc(OMP_messages_fetch))(account, selection_json, callback, user_data, out_count);
end;

function om_messages_set_flags(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_messages_set_flags(OMProc(OMP_messages_set_flags))(account, options_json);
end;

function om_messages_move(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_messages_move(OMProc(OMP_messages_move))(account, options_json);
end;

function om_messages_copy(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_messages_copy(OMProc(OMP_messages_copy))(account, options_json);
end;

function om_messages_delete(account: Pom_account; options_json: PUTF8Char): om_status; cdecl;
begin
  Result := T_om_messages_delete(OMProc(OMP_messages_delete))(account, options_json);
end;

function om_folder_create(account: Pom_account; name: PUTF8Char; timeout_ms: UInt32): om_status; cdecl;
begin
  Result := T_om_folder_create(OMProc(OMP_folder_create))(account, name, timeout_ms);
end;

function om_wait_for_mail(account: Pom_account; options_json: PUTF8Char; timeout_ms: UInt32; out_json: PPUTF8Char): om_status; cdecl;
begin
  Result := T_om_wait_for_mail(OMProc(OMP_wait_for_mail))(account, options_json, timeout_ms, out_json);
end;

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

{ ---- reading the library's JSON ----
  A small reader of the JSON the library writes (serde_json: UTF-8 decoded to a string
  first, \uXXXX escapes for control characters): an object is split once into its members'
  raw texts, each converted when asked. No dependency (fpjson, System.JSON) so that the unit
  stays one file for Free Pascal and every Delphi since 2009. }

type
  TJMember = record
    Key: string;
    Raw: string;
  end;
  TJMembers = array of TJMember;

procedure JFail(const S: string; I: Integer);
begin
  raise EConvertError.CreateFmt('oauthmail: unexpected JSON at character %d of %d', [I, Length(S)]);
end;

procedure JSkipWs(const S: string; var I: Integer);
begin
  while (I <= Length(S)) and CharInSet(S[I], [' ', #9, #10, #13]) do Inc(I);
end;

{ S[I] = '"': the string decoded; I ends after the closing quote. }
function JReadString(const S: string; var I: Integer): string;
var
  Start, N, Len, Code: Integer;
  C: Char;
begin
  Len := Length(S);
  if (I > Len) or (S[I] <> '"') then JFail(S, I);
  Inc(I);
  Start := I;
  while (I <= Len) and (S[I] <> '"') and (S[I] <> '\') do Inc(I);
  if (I <= Len) and (S[I] = '"') then
  begin
    Result := Copy(S, Start, I - Start); // no escape: one copy
    Inc(I);
    Exit;
  end;
  SetLength(Result, Len - Start + 1); // the decoded text is never longer
  N := 0;
  I := Start;
  while I <= Len do
  begin
    C := S[I];
    if C = '"' then
    begin
      SetLength(Result, N);
      Inc(I);
      Exit;
    end;
    if C = '\' then
    begin
      Inc(I);
      if I > Len then Break;
      C := S[I];
      case C of
        'n': C := #10;
        'r': C := #13;
        't': C := #9;
        'b': C := #8;
        'f': C := #12;
        'u':
          begin
            Code := StrToIntDef('$' + AnsiString(Copy(S, I + 1, 4)), Ord('?'));
            C := Char(Code); // UTF-16 code unit: surrogate pairs come out right
            Inc(I, 4);
          end;
      end; // else \" \\ \/ : the character itself
    end;
    Inc(N);
    Result[N] := C;
    Inc(I);
  end;
  JFail(S, I);
end;

procedure JSkipValue(const S: string; var I: Integer);
var
  Depth, Len: Integer;
begin
  Len := Length(S);
  if I > Len then JFail(S, I);
  case S[I] of
    '"':
      begin
        Inc(I);
        while (I <= Len) and (S[I] <> '"') do
        begin
          if S[I] = '\' then Inc(I);
          Inc(I);
        end;
        if I > Len then JFail(S, I);
        Inc(I);
      end;
    '{', '[':
      begin
        Depth := 0;
        while I <= Len do
        begin
          case S[I] of
            '"':
              begin
                JSkipValue(S, I);
                Continue;
              end;
            '{', '[': Inc(Depth);
            '}', ']':
              begin
                Dec(Depth);
                if Depth = 0 then
                begin
                  Inc(I);
                  Exit;
                end;
              end;
          end;
          Inc(I);
        end;
        JFail(S, I);
      end;
  else
    while (I <= Len) and not CharInSet(S[I], [',', '}', ']', ' ', #9, #10, #13]) do Inc(I);
  end;
end;

{ The members of the JSON object S (none when S is not an object: null). }
function JObject(const S: string): TJMembers;
var
  I, Start, N: Integer;
  Key: string;
begin
  Result := nil;
  I := 1;
  JSkipWs(S, I);
  if (I > Length(S)) or (S[I] <> '{') then Exit;
  Inc(I);
  N := 0;
  while True do
  begin
    JSkipWs(S, I);
    if I > Length(S) then JFail(S, I);
    if S[I] = '}' then Break;
    if S[I] = ',' then
    begin
      Inc(I);
      Continue;
    end;
    Key := JReadString(S, I);
    JSkipWs(S, I);
    if (I > Length(S)) or (S[I] <> ':') then JFail(S, I);
    Inc(I);
    JSkipWs(S, I);
    Start := I;
    JSkipValue(S, I);
    if N = Length(Result) then SetLength(Result, N * 2 + 8);
    Result[N].Key := Key;
    Result[N].Raw := Copy(S, Start, I - Start);
    Inc(N);
  end;
  SetLength(Result, N);
end;

{ The raw texts of the elements of the JSON array S (none when S is not an array). }
function JArray(const S: string): TOMStrings;
var
  I, Start, N: Integer;
begin
  Result := nil;
  I := 1;
  JSkipWs(S, I);
  if (I > Length(S)) or (S[I] <> '[') then Exit;
  Inc(I);
  N := 0;
  while True do
  begin
    JSkipWs(S, I);
    if I > Length(S) then JFail(S, I);
    if S[I] = ']' then Break;
    if S[I] = ',' then
    begin
      Inc(I);
      Continue;
    end;
    Start := I;
    JSkipValue(S, I);
    if N = Length(Result) then SetLength(Result, N * 2 + 8);
    Result[N] := Copy(S, Start, I - Start);
    Inc(N);
  end;
  SetLength(Result, N);
end;

{ The raw text of member Key ('' when absent). }
function JGet(const M: TJMembers; const Key: string): string;
var
  I: Integer;
begin
  for I := 0 to High(M) do
    if M[I].Key = Key then
    begin
      Result := M[I].Raw;
      Exit;
    end;
  Result := '';
end;

function JStr(const Raw: string): string;
var
  I: Integer;
begin
  if (Raw <> '') and (Raw[1] = '"') then
  begin
    I := 1;
    Result := JReadString(Raw, I);
  end
  else
    Result := '';
end;

function JInt(const Raw: string; Def: Int64 = 0): Int64;
begin
  Result := StrToInt64Def(AnsiString(Raw), Def); // '' and null give Def
end;

function JBool(const Raw: string): Boolean;
begin
  Result := Raw = 'true';
end;

function JStrings(const Raw: string): TOMStrings;
var
  I: Integer;
begin
  Result := JArray(Raw);
  for I := 0 to High(Result) do Result[I] := JStr(Result[I]);
end;

function JAddresses(const Raw: string): TOMAddresses;
var
  Items: TOMStrings;
  M: TJMembers;
  I: Integer;
begin
  Items := JArray(Raw);
  Result := nil;
  SetLength(Result, Length(Items));
  for I := 0 to High(Items) do
  begin
    M := JObject(Items[I]);
    Result[I].Name := JStr(JGet(M, 'name'));
    Result[I].Address := JStr(JGet(M, 'address'));
  end;
end;

function UnixToUtc(Secs: Int64): TDateTime;
begin
  Result := UnixDateDelta + Secs / SecsPerDay;
end;

{ The envelope members (om_message_parse, om_messages_list) into a record's fields. }
procedure JEnvelope(const M: TJMembers; var From, Sender, ReplyTo, ToList, Cc, Bcc: TOMAddresses;
  var Subject: string; var Date: TDateTime; var DateUnix: Int64; var DateText, MessageId: string;
  var InReplyTo, References: TOMStrings);
begin
  From := JAddresses(JGet(M, 'from'));
  Sender := JAddresses(JGet(M, 'sender'));
  ReplyTo := JAddresses(JGet(M, 'reply_to'));
  ToList := JAddresses(JGet(M, 'to'));
  Cc := JAddresses(JGet(M, 'cc'));
  Bcc := JAddresses(JGet(M, 'bcc'));
  Subject := JStr(JGet(M, 'subject'));
  DateText := JStr(JGet(M, 'date'));
  DateUnix := JInt(JGet(M, 'date_unix'));
  if DateText <> '' then Date := UnixToUtc(DateUnix) else Date := 0;
  MessageId := JStr(JGet(M, 'message_id'));
  InReplyTo := JStrings(JGet(M, 'in_reply_to'));
  References := JStrings(JGet(M, 'references'));
end;

procedure JAttachment(const M: TJMembers; var Index: Integer; var FileName, ContentType: string;
  var Size: Int64; var ContentId, Disposition: string; var IsMessage, IsTnef: Boolean);
begin
  Index := JInt(JGet(M, 'index'));
  FileName := JStr(JGet(M, 'file_name'));
  ContentType := JStr(JGet(M, 'content_type'));
  Size := JInt(JGet(M, 'size'));
  ContentId := JStr(JGet(M, 'content_id'));
  Disposition := JStr(JGet(M, 'disposition'));
  IsMessage := JBool(JGet(M, 'is_message'));
  IsTnef := JBool(JGet(M, 'is_tnef'));
end;

function ParsedFromJson(const Json: string): TOMParsedMessage;
var
  M, A: TJMembers;
  Items: TOMStrings;
  I: Integer;
begin
  M := JObject(Json);
  Result := Default(TOMParsedMessage);
  with Result do
  begin
    JEnvelope(M, From, Sender, ReplyTo, &To, Cc, Bcc, Subject, Date, DateUnix, DateText, MessageId,
      InReplyTo, References);
    Text := JStr(JGet(M, 'text'));
    TextFromHtml := JBool(JGet(M, 'text_from_html'));
    Html := JStr(JGet(M, 'html'));
    Items := JArray(JGet(M, 'attachments'));
    SetLength(Attachments, Length(Items));
    for I := 0 to High(Items) do
    begin
      A := JObject(Items[I]);
      with Attachments[I] do
        JAttachment(A, Index, FileName, ContentType, Size, ContentId, Disposition, IsMessage, IsTnef);
    end;
    Encrypted := JBool(JGet(M, 'encrypted'));
    Signed := JBool(JGet(M, 'signed'));
    Security := JStr(JGet(M, 'security'));
    HasTnef := JBool(JGet(M, 'has_tnef'));
    Unreadable := JBool(JGet(M, 'unreadable'));
  end;
end;

function PageFromJson(const Json: string): TOMMessagePage;
var
  M, L: TJMembers;
  Items: TOMStrings;
  I: Integer;
begin
  M := JObject(Json);
  Result.Folder := JStr(JGet(M, 'folder'));
  Result.UidValidity := UInt32(JInt(JGet(M, 'uidvalidity')));
  Result.Total := JInt(JGet(M, 'total'), -1);
  Result.NextCursor := JStr(JGet(M, 'next_cursor'));
  Items := JArray(JGet(M, 'messages'));
  SetLength(Result.Messages, Length(Items));
  for I := 0 to High(Items) do
  begin
    L := JObject(Items[I]);
    with Result.Messages[I] do
    begin
      Id := JStr(JGet(L, 'id'));
      Uid := UInt32(JInt(JGet(L, 'uid')));
      Flags := JStrings(JGet(L, 'flags'));
      Size := JInt(JGet(L, 'size'));
      InternalDate := JInt(JGet(L, 'internal_date'));
      HasAttachments := JBool(JGet(L, 'has_attachments'));
      JEnvelope(L, From, Sender, ReplyTo, &To, Cc, Bcc, Subject, Date, DateUnix, DateText, MessageId,
        InReplyTo, References);
    end;
  end;
end;

function SavedFromJson(const Json: string): TOMSavedAttachments;
var
  Items: TOMStrings;
  A: TJMembers;
  I: Integer;
begin
  Items := JArray(Json);
  Result := nil;
  SetLength(Result, Length(Items));
  for I := 0 to High(Items) do
  begin
    A := JObject(Items[I]);
    with Result[I] do
    begin
      JAttachment(A, Index, FileName, ContentType, Size, ContentId, Disposition, IsMessage, IsTnef);
      Path := JStr(JGet(A, 'path'));
    end;
  end;
end;

function WaitFromJson(const Json: string): TOMWaitResult;
var
  M: TJMembers;
begin
  M := JObject(Json);
  Result.NewMail := JBool(JGet(M, 'new_mail'));
  Result.Folder := JStr(JGet(M, 'folder'));
  Result.Method := JStr(JGet(M, 'method'));
  Result.Reconnects := JInt(JGet(M, 'reconnects'));
end;

{ ---- writing the browsing calls' JSON ---- }

function JStrArray(const A: array of string): string;
var
  I: Integer;
begin
  Result := '[';
  for I := 0 to High(A) do
  begin
    if I > 0 then Result := Result + ', ';
    Result := Result + OMJsonString(A[I]);
  end;
  Result := Result + ']';
end;

function JDay(D: TDateTime): string;
begin
  Result := OMJsonString(string(FormatDateTime('yyyy"-"mm"-"dd', D)));
end;

{ Appends '"Key": Value' to the members in Acc. }
procedure JAdd(var Acc: string; const Key, Value: string);
begin
  if Acc <> '' then Acc := Acc + ', ';
  Acc := Acc + '"' + Key + '": ' + Value;
end;

function SearchJson(const S: TOMSearch): string;
const
  Tri: array[TOMTriState] of string = ('', 'true', 'false');
begin
  Result := '';
  if S.Unseen <> tsAny then JAdd(Result, 'unseen', Tri[S.Unseen]);
  if S.Flagged <> tsAny then JAdd(Result, 'flagged', Tri[S.Flagged]);
  if S.Answered <> tsAny then JAdd(Result, 'answered', Tri[S.Answered]);
  if S.Since <> 0 then JAdd(Result, 'since', JDay(S.Since));
  if S.Before <> 0 then JAdd(Result, 'before', JDay(S.Before));
  if S.From <> '' then JAdd(Result, 'from', OMJsonString(S.From));
  if S.&To <> '' then JAdd(Result, 'to', OMJsonString(S.&To));
  if S.Subject <> '' then JAdd(Result, 'subject', OMJsonString(S.Subject));
  if S.Text <> '' then JAdd(Result, 'text', OMJsonString(S.Text));
  if S.Keyword <> '' then JAdd(Result, 'keyword', OMJsonString(S.Keyword));
  if S.Larger > 0 then JAdd(Result, 'larger', string(IntToStr(S.Larger)));
  if S.Smaller > 0 then JAdd(Result, 'smaller', string(IntToStr(S.Smaller)));
end;

function ListOptionsJson(const O: TOMListOptions): string;
const
  Orders: array[TOMListOrder] of string = ('"newest_first"', '"oldest_first"');
var
  Search: string;
begin
  Result := '';
  if O.Folder <> '' then JAdd(Result, 'folder', OMJsonString(O.Folder));
  Search := SearchJson(O.Search);
  if Search <> '' then JAdd(Result, 'search', '{' + Search + '}');
  if O.Uids <> '' then JAdd(Result, 'uids', OMJsonString(O.Uids));
  if O.Limit <> 0 then JAdd(Result, 'limit', string(IntToStr(O.Limit)));
  if O.Cursor <> '' then JAdd(Result, 'cursor', OMJsonString(O.Cursor));
  JAdd(Result, 'order', Orders[O.Order]);
  if O.TimeoutMs <> 0 then JAdd(Result, 'timeout_ms', string(IntToStr(O.TimeoutMs)));
  Result := '{' + Result + '}';
end;

{ The selection's members, Extra (more members) appended, as one JSON object. }
function SelectionJson(const S: TOMSelection; const Extra: string = ''): string;
var
  I: Integer;
  Uids: string;
begin
  Result := '';
  if S.Folder <> '' then JAdd(Result, 'folder', OMJsonString(S.Folder));
  if Length(S.Ids) > 0 then JAdd(Result, 'ids', JStrArray(S.Ids));
  if Length(S.Uids) > 0 then
  begin
    Uids := '';
    for I := 0 to High(S.Uids) do
    begin
      if I > 0 then Uids := Uids + ', ';
      Uids := Uids + string(IntToStr(S.Uids[I]));
    end;
    JAdd(Result, 'uids', '[' + Uids + ']');
  end;
  if S.UidValidity <> 0 then JAdd(Result, 'uidvalidity', string(IntToStr(S.UidValidity)));
  if S.TimeoutMs <> 0 then JAdd(Result, 'timeout_ms', string(IntToStr(S.TimeoutMs)));
  if Extra <> '' then
  begin
    if Result <> '' then Result := Result + ', ';
    Result := Result + Extra;
  end;
  Result := '{' + Result + '}';
end;

function OMListOptions(const Folder: string; Limit: Integer): TOMListOptions;
begin
  Result.Folder := Folder;
  Result.Search.Unseen := tsAny;
  Result.Search.Flagged := tsAny;
  Result.Search.Answered := tsAny;
  Result.Search.Since := 0;
  Result.Search.Before := 0;
  Result.Search.From := '';
  Result.Search.&To := '';
  Result.Search.Subject := '';
  Result.Search.Text := '';
  Result.Search.Keyword := '';
  Result.Search.Larger := 0;
  Result.Search.Smaller := 0;
  Result.Uids := '';
  Result.Limit := Limit;
  Result.Cursor := '';
  Result.Order := loNewestFirst;
  Result.TimeoutMs := 0;
end;

function OMSelection(const Folder: string; const Ids: array of string): TOMSelection;
var
  I: Integer;
begin
  Result.Folder := Folder;
  SetLength(Result.Ids, Length(Ids));
  for I := 0 to High(Ids) do Result.Ids[I] := Ids[I];
  SetLength(Result.Uids, 0);
  Result.UidValidity := 0;
  Result.TimeoutMs := 0;
end;

function OMSelectionUids(const Folder: string; const Uids: array of UInt32;
  UidValidity: UInt32): TOMSelection;
var
  I: Integer;
begin
  Result.Folder := Folder;
  SetLength(Result.Ids, 0);
  SetLength(Result.Uids, Length(Uids));
  for I := 0 to High(Uids) do Result.Uids[I] := Uids[I];
  Result.UidValidity := UidValidity;
  Result.TimeoutMs := 0;
end;

function OMWaitOptions(const Folder: string): TOMWaitOptions;
begin
  Result.Folder := Folder;
  Result.PollIntervalSecs := 0;
  Result.IdleRefreshSecs := 0;
  Result.PollOnly := False;
end;

{ A and B equal ignoring the case of ASCII letters (flags and keywords are ASCII atoms). }
function SameAscii(const A, B: string): Boolean;
var
  I: Integer;
  X, Y: Char;
begin
  Result := Length(A) = Length(B);
  if not Result then Exit;
  for I := 1 to Length(A) do
  begin
    X := A[I];
    Y := B[I];
    if CharInSet(X, ['a'..'z']) then X := Char(Ord(X) - 32);
    if CharInSet(Y, ['a'..'z']) then Y := Char(Ord(Y) - 32);
    if X <> Y then
    begin
      Result := False;
      Exit;
    end;
  end;
end;

function OMHasFlag(const Flags: TOMStrings; const Flag: string): Boolean;
var
  I: Integer;
begin
  for I := 0 to High(Flags) do
    if SameAscii(Flags[I], Flag) then
    begin
      Result := True;
      Exit;
    end;
  Result := False;
end;

{ ---- EOAuthMail ---- }

procedure EOAuthMail.SetText(const AText: string);
begin
  FText := AText;
  SetExceptionText(Self, AText);
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
    Proc: TOAuthMailLogProc;    // one of the two
    Method: TOAuthMailLogEvent;
  end;

var
  GLogSinks: Integer = 0; // alive: handed to the library and not released yet

procedure LogTrampoline(user_data: Pointer; level: Int32; msg: PUTF8Char); cdecl;
var
  Sink: PLogSink;
begin
  try
    Sink := PLogSink(user_data);
    if Assigned(Sink^.Proc) then
      Sink^.Proc(level, OMFromUtf8(msg))
    else if Assigned(Sink^.Method) then
      Sink^.Method(level, OMFromUtf8(msg));
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

class procedure TOAuthMail.LoadLibrary(const FileName: string);
begin
  OMLoad(FileName);
end;

class function TOAuthMail.LibraryLoaded: Boolean;
begin
  Result := GLoaded;
end;

class function TOAuthMail.LibraryFileName: string;
begin
  GLibLock.Enter;
  try
    Result := GLibFile;
  finally
    GLibLock.Leave;
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

{ Hands Sink (nil: none) to the library as the log callback's user data. }
procedure SetLogSink(Sink: PLogSink; MaxLevel: Integer);
var
  St: om_status;
  E: EOAuthMail;
begin
  if Sink = nil then
  begin
    // the library calls LogFree for the previous sink before returning
    St := om_log_set_callback(nil, MaxLevel, nil, nil);
    if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_log_set_callback');
    Exit;
  end;
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

class procedure TOAuthMail.SetLogProc(Proc: TOAuthMailLogProc; MaxLevel: Integer);
var
  Sink: PLogSink;
begin
  Sink := nil;
  if Assigned(Proc) then
  begin
    New(Sink);
    Sink^.Proc := Proc;
    Sink^.Method := nil;
  end;
  SetLogSink(Sink, MaxLevel);
end;

class procedure TOAuthMail.SetLogEvent(Handler: TOAuthMailLogEvent; MaxLevel: Integer);
var
  Sink: PLogSink;
begin
  Sink := nil;
  if Assigned(Handler) then
  begin
    New(Sink);
    Sink^.Proc := nil;
    Sink^.Method := Handler;
  end;
  SetLogSink(Sink, MaxLevel);
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

{ The library string P of a call without an account (freed here); raises on failure. }
function TakeLibString(Status: om_status; var P: PUTF8Char; const Context: string): string;
var
  E: EOAuthMail;
begin
  try
    if Status <> OM_STATUS_OK then
    begin
      E := EOAuthMail.FromLastError(Status, Context); // before om_string_free
      raise E;
    end;
    Result := OMFromUtf8(P);
  finally
    om_string_free(P);
    P := nil;
  end;
end;

function BytesPtr(const Data: TBytes): PByte;
begin
  if Length(Data) > 0 then Result := @Data[0] else Result := nil;
end;

class function TOAuthMail.ParseMessageJson(const Data: TBytes; const OptionsJson: string): string;
var
  O: UTF8String;
  P: PUTF8Char;
begin
  O := OMToUtf8(OptionsJson);
  P := nil;
  Result := TakeLibString(om_message_parse(BytesPtr(Data), NativeUInt(Length(Data)), OptPtr(O), @P),
    P, 'om_message_parse');
end;

class function TOAuthMail.ParseMessage(const Data: TBytes; IncludeText, IncludeHtml: Boolean): TOMParsedMessage;
const
  B: array[Boolean] of string = ('false', 'true');
var
  Options: string;
begin
  if IncludeText and IncludeHtml then
    Options := ''
  else
    Options := '{"text": ' + B[IncludeText] + ', "html": ' + B[IncludeHtml] + '}';
  Result := ParsedFromJson(ParseMessageJson(Data, Options));
end;

class function TOAuthMail.ParsedMessageFromJson(const Json: string): TOMParsedMessage;
begin
  Result := ParsedFromJson(Json);
end;

class function TOAuthMail.GetAttachment(const Data: TBytes; Index: Integer): TBytes;
var
  St: om_status;
  P: PByte;
  N: NativeUInt;
begin
  if Index < 0 then
    raise EOAuthMail.CreateStatus(OM_STATUS_INVALID_ARGUMENT,
      'attachment index ' + string(IntToStr(Index)) + ': the indexes start at 0', '', '');
  P := nil;
  N := 0;
  St := om_message_attachment(BytesPtr(Data), NativeUInt(Length(Data)), UInt32(Index), @P, @N);
  if St <> OM_STATUS_OK then raise EOAuthMail.FromLastError(St, 'om_message_attachment');
  try
    Result := nil;
    SetLength(Result, N);
    if N > 0 then Move(P^, Result[0], N);
  finally
    om_buffer_free(P); // malloc'd by the library: never FreeMem
  end;
end;

class function TOAuthMail.SaveAttachments(const Data: TBytes; const Directory: string;
  IncludeInline: Boolean): TOMSavedAttachments;
var
  D, O: UTF8String;
  P: PUTF8Char;
begin
  D := OMToUtf8(Directory);
  if IncludeInline then O := '' else O := '{"inline": false}';
  P := nil;
  Result := SavedFromJson(TakeLibString(om_message_save_attachments(BytesPtr(Data),
    NativeUInt(Length(Data)), PUTF8Char(D), OptPtr(O), @P), P, 'om_message_save_attachments'));
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
    M.HasParsed := msg^.parsed_json <> nil;
    if M.HasParsed then
    begin
      M.ParsedJson := OMFromUtf8(msg^.parsed_json);
      M.Parsed := ParsedFromJson(M.ParsedJson);
    end;
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
  Stored: OMString;
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

{ Forgets what callbacks left on this thread for the current call: used when the call raises
  something else (a fetch handler's exception), so that no later call re-raises it. }
class procedure TOAuthMailAccount.DropDeferred;
begin
  FreeAndNil(GStoreFailure);
  FreeAndNil(GDeferred);
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
    FreeAndNil(GDeferred); // the library's error wins (a token event's exception is dropped)
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

procedure TOAuthMailAccount.ImportTokens(const TokensJson: string);
var
  U: UTF8String;
begin
  U := OMToUtf8(TokensJson);
  Check0(om_tokens_import(FHandle, PUTF8Char(U)), 'om_tokens_import');
end;

function TOAuthMailAccount.TryImportTokens(const TokensJson: string): Boolean;
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
    DropDeferred;
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
    // the handler's own exception, not the OM_STATUS_CANCELLED it caused; what a token event
    // or the token store raised during this call is dropped, not left for the next call
    DropDeferred;
    om_string_free(P);
    E := Ctx.Failure;
    raise E;
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

function TOAuthMailAccount.ListMessages(const Options: TOMListOptions): TOMMessagePage;
var
  U: UTF8String;
  P: PUTF8Char;
begin
  U := OMToUtf8(ListOptionsJson(Options));
  P := nil;
  Result := PageFromJson(TakeString(om_messages_list(FHandle, PUTF8Char(U), @P), P, 'om_messages_list'));
end;

function TOAuthMailAccount.ListMessages(const Folder: string; Limit: Integer): TOMMessagePage;
begin
  Result := ListMessages(OMListOptions(Folder, Limit));
end;

function TOAuthMailAccount.FetchMessages(const Selection: TOMSelection; OnMessage: TOAuthMailMessageEvent;
  Parse, MarkSeen: Boolean): Integer;
const
  B: array[Boolean] of string = ('false', 'true');
var
  U: UTF8String;
  St: om_status;
  Ctx: TFetchContext;
  N: Cardinal;
  E: TObject;
begin
  U := OMToUtf8(SelectionJson(Selection, '"parse": ' + B[Parse] + ', "mark_seen": ' + B[MarkSeen]));
  Ctx.Account := Self;
  Ctx.Handler := OnMessage;
  Ctx.Failure := nil;
  N := 0;
  St := om_messages_fetch(FHandle, PUTF8Char(U), MessageTrampoline, @Ctx, @N);
  if Ctx.Failure <> nil then
  begin
    DropDeferred; // as Fetch: nothing stale left for the next call
    E := Ctx.Failure;
    raise E; // the handler's own exception
  end;
  Check0(St, 'om_messages_fetch');
  Result := N;
end;

procedure TOAuthMailAccount.SetFlags(const Selection: TOMSelection; const Add: array of string;
  const Remove: array of string);
var
  U: UTF8String;
begin
  U := OMToUtf8(SelectionJson(Selection, '"add": ' + JStrArray(Add) + ', "remove": ' + JStrArray(Remove)));
  Check0(om_messages_set_flags(FHandle, PUTF8Char(U)), 'om_messages_set_flags');
end;

procedure TOAuthMailAccount.MoveMessages(const Selection: TOMSelection; const ToFolder: string);
var
  U: UTF8String;
begin
  U := OMToUtf8(SelectionJson(Selection, '"to": ' + OMJsonString(ToFolder)));
  Check0(om_messages_move(FHandle, PUTF8Char(U)), 'om_messages_move');
end;

procedure TOAuthMailAccount.CopyMessages(const Selection: TOMSelection; const ToFolder: string);
var
  U: UTF8String;
begin
  U := OMToUtf8(SelectionJson(Selection, '"to": ' + OMJsonString(ToFolder)));
  Check0(om_messages_copy(FHandle, PUTF8Char(U)), 'om_messages_copy');
end;

procedure TOAuthMailAccount.DeleteMessages(const Selection: TOMSelection);
var
  U: UTF8String;
begin
  U := OMToUtf8(SelectionJson(Selection));
  Check0(om_messages_delete(FHandle, PUTF8Char(U)), 'om_messages_delete');
end;

procedure TOAuthMailAccount.CreateFolder(const Name: string; TimeoutMs: Cardinal);
var
  U: UTF8String;
begin
  U := OMToUtf8(Name);
  Check0(om_folder_create(FHandle, PUTF8Char(U), TimeoutMs), 'om_folder_create');
end;

function TOAuthMailAccount.WaitForMail(const Options: TOMWaitOptions; TimeoutMs: Cardinal): TOMWaitResult;
var
  J: string;
  U: UTF8String;
  P: PUTF8Char;
begin
  J := '';
  if Options.Folder <> '' then JAdd(J, 'folder', OMJsonString(Options.Folder));
  if Options.PollIntervalSecs <> 0 then JAdd(J, 'poll_interval_secs', string(IntToStr(Options.PollIntervalSecs)));
  if Options.IdleRefreshSecs <> 0 then JAdd(J, 'idle_refresh_secs', string(IntToStr(Options.IdleRefreshSecs)));
  if Options.PollOnly then JAdd(J, 'poll_only', 'true');
  U := OMToUtf8('{' + J + '}');
  P := nil;
  Result := WaitFromJson(TakeString(om_wait_for_mail(FHandle, PUTF8Char(U), TimeoutMs, @P), P,
    'om_wait_for_mail'));
end;

function TOAuthMailAccount.WaitForMail(const Folder: string; TimeoutMs: Cardinal): TOMWaitResult;
begin
  Result := WaitForMail(OMWaitOptions(Folder), TimeoutMs);
end;

procedure TOAuthMailAccount.Cancel;
begin
  Check0(om_account_cancel(FHandle), 'om_account_cancel');
end;

initialization
  IsMultiThread := True; // the library calls back from its threads; several host threads may call it
  GLibLock := TCriticalSection.Create;

finalization
  FreeAndNil(GLibLock); // the library itself stays loaded: its threads may still be running

end.

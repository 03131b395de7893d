{ demo_test.dpr — a real program using OAuthMail.pas against the local sandbox (a real OAuth2
  server, a private Dovecot and an SMTP sink), run by bindings/delphi/run_test.sh.

  Environment (set by run_test.sh): SANDBOX_AUTHORIZE_URL, SANDBOX_TOKEN_URL,
  SANDBOX_REVOCATION_URL, SANDBOX_CA_FILE, OM_BROWSER_SCRIPT, OM_IMAPS_PORT,
  OM_SUBMISSION_PORT, OM_SEEDED (messages seeded in alice's INBOX), OM_WORKDIR,
  OM_C_LAYOUT (sizeof/offsets of om_message from a C compiler), OM_STATS_SCRIPT (a node
  script printing the OAuth2 server's count of token requests of a grant type), OM_GRAPH_URL
  (the Microsoft Graph emulator's service root), OM_GRAPH_USER (its mailbox, where
  run_test.sh seeded OM_GRAPH_SEEDED messages and then looks for the one sent in Sent Items),
  SANDBOX_SA_KEY_FILE (the sandbox's Google service account key file), OM_SA_USER (the user
  it acts for, where run_test.sh seeded OM_SA_SEEDED messages with seed.py --seed OM_SA_SEED;
  it then looks for the one sent in the SMTP sink), OM_BROWSE_USER (another user the service
  account acts for, where run_test.sh seeded OM_BROWSE_SEEDED messages and a facture with
  attachments: the browsing scenario), OM_SEED_SCRIPT and OM_MAILDIR_ROOT (seed.py and the
  mailboxes' root, to deliver a message while the program waits for mail).
  Prints "ok - ..." / "not ok - ..." and one final line "N passed, M failed". }
program demo_test;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$MODESWITCH UNICODESTRINGS}
  {$H+}
{$ENDIF}
{$APPTYPE CONSOLE}

uses
  {$IFDEF UNIX}cthreads, cwstring,{$ENDIF} // threads + UnicodeString <-> console (FPC on Unix)
  SysUtils, Classes, SyncObjs, DateUtils,
  {$IFDEF FPC}process,{$ENDIF} // RunCommand (the sandbox's counters)
  OAuthMail;

type
  EDemoHandler = class(Exception);
  EDbFailure = class(Exception);

  { The host's "database" of this test: the token set in a JSON file, and a lock file opened
    exclusively (fmShareExclusive: flock on Unix, a share mode on Windows, both across
    processes) standing for the row lock (SELECT ... FOR UPDATE) another process waits for. }
  TDbTokenStore = class(TInterfacedObject, IOAuthMailTokenStore)
  private
    FPath: string;
    FRowLock: THandle;
  public
    Locks, Unlocks, Busy, Saves: Integer;
    LastUnlock: string;  // what Unlock got last ('' = nothing to save)
    FailWith: string;    // TryLock raises EDbFailure with this text when set
    constructor Create(const Path: string);
    destructor Destroy; override;
    { What another process does: take the row lock; THandle(-1) when it is held. }
    function Hold: THandle;
    function TryLock(TimeoutMs: Cardinal; out StoredTokensJson: string): Boolean;
    procedure Unlock(const NewTokensJson: string);
  end;

  TDemo = class
  public
    Passed, Failed: Integer;
    TokenEvents: Integer;
    LastTokens: string;
    Count: Integer;
    Uids: array of UInt32;
    BadData: string;
    Mode: (mRaise, mStopAtSecond, mReentrant, mCount);
    ReentrantStatus: Integer;
    GraphIds: array of string; // the uidl (Graph message id) of each Graph message
    GraphBad: string;
    SaIds: array of string;    // the Message-ID of each message the service account fetched
    SaBad: string;
    Got: array of TOAuthMailMessage; // what OnCollect received
    GotData: array of TBytes;
    TokenRaises: Integer;            // OnTokensRaise calls
    MethodLogs: Integer;             // OnLogMethod calls
    LastMethodLog: string;
    procedure Ok(Cond: Boolean; const What: string; const Why: string = '');
    procedure OnTokens(Sender: TOAuthMailAccount; const TokensJson: string);
    procedure OnTokensRaise(Sender: TOAuthMailAccount; const TokensJson: string);
    procedure OnLogMethod(Level: Integer; const Msg: string);
    procedure OnMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
    procedure OnGraphMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
    procedure OnSaMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
    procedure OnCollect(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
  end;

  { Delivers one more message into a mailbox's INBOX after DelayMs (seed.py, as a mail server
    would), while the main thread waits for it. }
  TSeedThread = class(TThread)
  private
    FUser: string;
    FDelayMs: Integer;
  protected
    procedure Execute; override;
  public
    Error: string;
    constructor Create(const User: string; DelayMs: Integer);
  end;

  TCancelThread = class(TThread)
  private
    FAcc: TOAuthMailAccount;
    FDelayMs: Integer;
    FError: string;
  protected
    procedure Execute; override;
  public
    constructor Create(Acc: TOAuthMailAccount; DelayMs: Integer);
  end;

var
  D: TDemo;
  LogCount: Integer = 0;
  LiveStores: Integer = 0;

procedure TDemo.Ok(Cond: Boolean; const What, Why: string);
begin
  if Cond then
  begin
    Inc(Passed);
    Writeln('ok - ', What);
  end
  else
  begin
    Inc(Failed);
    if Why <> '' then Writeln('not ok - ', What, ' (', Why, ')')
    else Writeln('not ok - ', What);
  end;
end;

procedure TDemo.OnTokens(Sender: TOAuthMailAccount; const TokensJson: string);
begin
  Inc(TokenEvents);
  LastTokens := TokensJson;
end;

procedure TDemo.OnTokensRaise(Sender: TOAuthMailAccount; const TokensJson: string);
begin
  Inc(TokenRaises);
  raise EDemoHandler.Create('the host could not store the tokens');
end;

{ The log callback as a method (TOAuthMail.SetLogEvent). May run on a library thread. }
procedure TDemo.OnLogMethod(Level: Integer; const Msg: string);
begin
  if Msg = 'log to a method' then
  begin
    LastMethodLog := Msg;
    InterlockedIncrement(MethodLogs);
  end;
end;

function BytesToAscii(const Data: TBytes): string;
var
  I: Integer;
begin
  SetLength(Result, Length(Data));
  for I := 0 to High(Data) do
    Result[I + 1] := Char(Data[I]); // Latin-1 view: enough to look for ASCII headers
end;

procedure TDemo.OnMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
var
  Text: string;
begin
  case Mode of
    mRaise:
      raise EDemoHandler.Create('the host failed on uid ' + IntToStr(Msg.Uid));
    mStopAtSecond:
      if Count = 1 then
      begin
        Action := faStop;
        Exit;
      end;
    mReentrant:
      if Count = 0 then
        try
          Sender.AccessToken; // same account, inside its callback
          ReentrantStatus := 0;
        except
          on E: EOAuthMail do ReentrantStatus := E.Status;
        end;
  end;
  Inc(Count);
  SetLength(Uids, Length(Uids) + 1);
  Uids[High(Uids)] := Msg.Uid;
  Text := BytesToAscii(Data);
  if UInt64(Length(Data)) <> Msg.Size then
    BadData := Format('uid %d: %d bytes, RFC822.SIZE %d', [Msg.Uid, Length(Data), Msg.Size])
  else if Pos('X-Seed-Index:', Text) = 0 then
    BadData := 'no X-Seed-Index header in the raw bytes of uid ' + IntToStr(Msg.Uid)
  else if Pos('Message-ID:', Text) = 0 then
    BadData := 'no Message-ID header in the raw bytes'
  else if Msg.Folder <> 'INBOX' then
    BadData := 'folder ' + Msg.Folder
  else if (Msg.UidValidity = 0) or (Msg.Uid = 0) then
    BadData := 'uid/uidvalidity 0'
  else if Msg.InternalDate < 1704067200 then // seed.py dates: 2024-01-01 + i minutes
    BadData := 'internal_date ' + IntToStr(Msg.InternalDate);
end;

{ A message read through Microsoft Graph: no UID (0), the Graph message id in Uidl. }
procedure TDemo.OnGraphMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
var
  Text: string;
begin
  SetLength(GraphIds, Length(GraphIds) + 1);
  GraphIds[High(GraphIds)] := Msg.Uidl;
  Text := BytesToAscii(Data);
  if (Msg.Uid <> 0) or (Msg.UidValidity <> 0) then
    GraphBad := Format('uid %d, uidvalidity %d (Graph: 0)', [Msg.Uid, Msg.UidValidity])
  else if Msg.Uidl = '' then
    GraphBad := 'empty Uidl (the Graph message id)'
  else if Pos('Message-ID: <delphi-graph-', Text) = 0 then
    GraphBad := 'not the seeded raw bytes'
  else if UInt64(Length(Data)) <> Msg.Size then
    GraphBad := Format('%d bytes, Size %d', [Length(Data), Msg.Size])
  else if Msg.Folder <> 'INBOX' then
    GraphBad := 'folder ' + Msg.Folder;
  Action := faContinue;
end;

{ The value of header Name in the raw bytes (first line only; '' when absent). }
function HeaderOf(const Text, Name: string): string;
var
  I, J: Integer;
begin
  Result := '';
  I := Pos(#10 + Name + ': ', #10 + Text);
  if I = 0 then Exit;
  I := I + Length(Name) + 2;
  J := I;
  while (J <= Length(Text)) and not CharInSet(Text[J], [#13, #10]) do Inc(J);
  Result := Copy(Text, I, J - I);
end;

{ A message fetched by the service account from its user's mailbox (IMAP, Dovecot). }
procedure TDemo.OnSaMessage(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
var
  Text, Id: string;
begin
  Text := BytesToAscii(Data);
  Id := HeaderOf(Text, 'Message-ID');
  SetLength(SaIds, Length(SaIds) + 1);
  SaIds[High(SaIds)] := Id;
  if Pos('<seed-' + GetEnvironmentVariable('OM_SA_SEED') + '-', Id) <> 1 then
    SaBad := 'not a message seeded for the service account''s user: ' + Id
  else if HeaderOf(Text, 'To') <> GetEnvironmentVariable('OM_SA_USER') then
    SaBad := 'To: ' + HeaderOf(Text, 'To')
  else if UInt64(Length(Data)) <> Msg.Size then
    SaBad := Format('uid %d: %d bytes, RFC822.SIZE %d', [Msg.Uid, Length(Data), Msg.Size])
  else if (Msg.Folder <> 'INBOX') or (Msg.Uid = 0) or (Msg.UidValidity = 0) then
    SaBad := Format('folder %s, uid %d, uidvalidity %d', [Msg.Folder, Msg.Uid, Msg.UidValidity]);
  Action := faContinue;
end;

{ Keeps every message and its bytes. }
procedure TDemo.OnCollect(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
begin
  SetLength(Got, Length(Got) + 1);
  Got[High(Got)] := Msg;
  SetLength(GotData, Length(GotData) + 1);
  GotData[High(GotData)] := Data;
  Action := faContinue;
end;

constructor TCancelThread.Create(Acc: TOAuthMailAccount; DelayMs: Integer);
begin
  FAcc := Acc;
  FDelayMs := DelayMs;
  inherited Create(False);
end;

procedure TCancelThread.Execute;
begin
  Sleep(FDelayMs);
  try
    FAcc.CancelAuthorization; // from another thread while the main thread waits
  except
    on E: Exception do FError := E.Message;
  end;
end;

procedure OnLog(Level: Integer; const Msg: string);
begin
  // may run on a library thread: only an atomic counter here
  InterlockedIncrement(LogCount);
end;

function Env(const Name: string): string;
begin
  Result := GetEnvironmentVariable(Name);
  if Result = '' then
  begin
    Writeln('not ok - environment variable ', Name, ' is not set');
    Writeln('0 passed, 1 failed');
    Halt(1);
  end;
end;

function Contains(const S, Sub: string): Boolean;
begin
  Result := Pos(Sub, S) > 0;
end;

function CountOf(const S, Sub: string): Integer;
var
  I: Integer;
begin
  Result := 0;
  I := Pos(Sub, S);
  while I > 0 do
  begin
    Inc(Result);
    I := Pos(Sub, S, I + Length(Sub));
  end;
end;

{ Json with the integer value of "Key" changed by Delta, or set to Value when Delta = 0. }
function TweakInt(const Json, Key: string; Delta: Integer; Value: Int64 = 0): string;
var
  I, J: Integer;
begin
  I := Pos('"' + Key + '":', Json);
  if I = 0 then Exit(Json);
  I := I + Length(Key) + 3;
  J := I;
  while (J <= Length(Json)) and CharInSet(Json[J], ['0'..'9']) do Inc(J);
  if Delta <> 0 then Value := StrToInt64(Copy(Json, I, J - I)) + Delta;
  Result := Copy(Json, 1, I - 1) + IntToStr(Value) + Copy(Json, J, MaxInt);
end;

{ Json with the string value of "Key" replaced by Value. }
function ReplaceStr(const Json, Key, Value: string): string;
var
  I, J: Integer;
begin
  I := Pos('"' + Key + '":"', Json);
  if I = 0 then Exit(Json);
  I := I + Length(Key) + 4;
  J := I;
  while (J <= Length(Json)) and (Json[J] <> '"') do Inc(J);
  Result := Copy(Json, 1, I - 1) + Value + Copy(Json, J, MaxInt);
end;

{ The same token set with its version lowered by one (an older copy). }
function OlderTokens(const Json: string): string;
begin
  Result := TweakInt(Json, 'version', -1);
end;

function Compact(const Json: string): string;
begin
  Result := StringReplace(Json, ' ', '', [rfReplaceAll]);
end;

function StatusOf(E: Exception): string;
begin
  if E is EOAuthMail then
    Result := EOAuthMail(E).StatusName + ': ' + E.Message
  else
    Result := E.ClassName + ': ' + E.Message;
end;

function AccountJson(const BadKey: string = ''; const Lang: string = 'en'): string;
begin
  Result :=
    '{"provider": "custom",' +
    ' "client_id": "confidential-app", "client_secret": "confidential-secret",' +
    ' "client_auth": "request_body",' +
    ' "authorize_url": ' + OMJsonString(Env('SANDBOX_AUTHORIZE_URL')) + ',' +
    ' "token_url": ' + OMJsonString(Env('SANDBOX_TOKEN_URL')) + ',' +
    ' "revocation_url": ' + OMJsonString(Env('SANDBOX_REVOCATION_URL')) + ',' +
    ' "scopes": "openid offline_access email mail",' +
    ' "redirect_uri": "http://127.0.0.1/",' +
    ' "email": "alice@example.test",' +
    ' "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": ' + Env('OM_IMAPS_PORT') +
      ', "security": "tls"},' +
    ' "outgoing": {"host": "127.0.0.1", "port": ' + Env('OM_SUBMISSION_PORT') +
      ', "security": "starttls"},' +
    ' "ca_certs_file": ' + OMJsonString(Env('SANDBOX_CA_FILE')) + ',' +
    ' "browser_command": ["node", ' + OMJsonString(Env('OM_BROWSER_SCRIPT')) + ', "--ca", ' +
      OMJsonString(Env('SANDBOX_CA_FILE')) + '],' +
    BadKey +
    ' "language": ' + OMJsonString(Lang) + '}';
end;

{ ---- the token store scenario ---- }

function ReadText(const Path: string): string;
var
  F: TFileStream;
  U: UTF8String;
begin
  F := TFileStream.Create(Path, fmOpenRead or fmShareDenyNone);
  try
    SetLength(U, F.Size);
    if F.Size > 0 then F.ReadBuffer(U[1], F.Size);
  finally
    F.Free;
  end;
  Result := OMFromUtf8(PUTF8Char(U));
end;

procedure WriteText(const Path, Text: string);
var
  F: TFileStream;
  U: UTF8String;
begin
  U := OMToUtf8(Text);
  F := TFileStream.Create(Path, fmCreate);
  try
    if Length(U) > 0 then F.WriteBuffer(U[1], Length(U));
  finally
    F.Free;
  end;
end;

constructor TDbTokenStore.Create(const Path: string);
begin
  inherited Create;
  FPath := Path;
  FRowLock := THandle(-1);
  InterlockedIncrement(LiveStores);
end;

destructor TDbTokenStore.Destroy;
begin
  InterlockedDecrement(LiveStores);
  inherited Destroy;
end;

function TDbTokenStore.Hold: THandle;
begin
  if not FileExists(FPath + '.lock') then FileClose(FileCreate(FPath + '.lock'));
  Result := FileOpen(FPath + '.lock', fmOpenReadWrite or fmShareExclusive);
end;

function TDbTokenStore.TryLock(TimeoutMs: Cardinal; out StoredTokensJson: string): Boolean;
var
  Start: TDateTime;
begin
  StoredTokensJson := '';
  if FailWith <> '' then raise EDbFailure.Create(FailWith);
  Start := Now;
  FRowLock := Hold;
  while FRowLock = THandle(-1) do
  begin
    if MilliSecondsBetween(Now, Start) >= TimeoutMs then
    begin
      Inc(Busy);
      Exit(False);
    end;
    Sleep(20);
    FRowLock := Hold;
  end;
  Inc(Locks);
  if FileExists(FPath) then StoredTokensJson := ReadText(FPath);
  Result := True;
end;

procedure TDbTokenStore.Unlock(const NewTokensJson: string);
begin
  try
    Inc(Unlocks);
    LastUnlock := NewTokensJson;
    if NewTokensJson <> '' then
    begin
      Inc(Saves);
      WriteText(FPath, NewTokensJson); // "UPDATE ...; COMMIT"
    end;
  finally
    FileClose(FRowLock); // released even when the save failed
    FRowLock := THandle(-1);
  end;
end;

{ The OAuth2 server's count of token requests of a grant type (GET /_test/stats). }
function TokenRequests(const Grant: string): Int64;
{$IFDEF FPC}
var
  O: AnsiString;
begin
  O := '';
  if not RunCommand('node', [AnsiString(Env('OM_STATS_SCRIPT')), AnsiString(Grant)], O) then
    raise Exception.Create('node ' + Env('OM_STATS_SCRIPT') + ' failed: ' + string(O));
  Result := StrToInt64(Trim(string(O)));
end;
{$ELSE}
begin
  raise Exception.Create('TokenRequests: the sandbox test runs with Free Pascal only');
end;
{$ENDIF}

{ The integer value of "Key" in a compact JSON object (-1 when absent). }
function JsonInt(const Json, Key: string): Int64;
var
  I, J: Integer;
begin
  Result := -1;
  I := Pos('"' + Key + '":', Json);
  if I = 0 then Exit;
  I := I + Length(Key) + 3;
  J := I;
  while (J <= Length(Json)) and CharInSet(Json[J], ['0'..'9']) do Inc(J);
  Result := StrToInt64Def(Copy(Json, I, J - I), -1);
end;

{ A token set as the host keeps it, its access token expired and its version raised (as
  tests/common/capi.rs expire_access_token does): the next call must refresh. }
function Expired(const Json: string): string;
begin
  Result := TweakInt(TweakInt(Json, 'version', 1), 'expires_at', 0, 1);
end;

procedure AuthorizeFresh(Acc: TOAuthMailAccount);
var
  St, Loops: Integer;
begin
  Acc.Authorize(True);
  Loops := 0;
  repeat
    St := Acc.WaitAuthorization(250);
    Inc(Loops);
  until (St <> OM_STATUS_PENDING) or (Loops > 240);
  D.Ok(St = OM_STATUS_OK, 'a grant of its own for the token store scenario', TOAuthMail.StatusName(St));
end;

{ Two accounts (two workstations) sharing one grant through the host's "database". }
procedure TokenStoreScenario;
var
  Src, Ws1, Ws2, Ws3: TOAuthMailAccount;
  Db1, Db2, Db3, Db4: TDbTokenStore;
  Store1, Store2, Store3, Store4: IOAuthMailTokenStore;
  DbPath, Stored, Token1, Token2, InDb: string;
  StoredVersion, R0, R1, R2, ExpiresAt: Int64;
  H: THandle;
  Raised: Boolean;
begin
  DbPath := IncludeTrailingPathDelimiter(Env('OM_WORKDIR')) + 'crm-database-tokens.json';
  Src := TOAuthMailAccount.Create(AccountJson);
  try
    AuthorizeFresh(Src); // its refreshes below rotate no one else's refresh token
    Stored := Expired(Src.ExportTokens);
  finally
    Src.Free;
  end;
  WriteText(DbPath, Stored); // what the host's database holds: an expired access token
  StoredVersion := JsonInt(Stored, 'version');

  Db1 := TDbTokenStore.Create(DbPath);
  Store1 := Db1; // the interface reference keeps Db1 alive
  Db2 := TDbTokenStore.Create(DbPath);
  Store2 := Db2;
  Ws1 := nil;
  Ws2 := nil;
  try
    Ws1 := TOAuthMailAccount.Create(AccountJson);
    Ws1.SetTokenStore(Store1);
    Ws1.ImportTokens(Stored); // as a host does at start
    D.Ok(Db1.Locks = 0, 'ImportTokens with a token store does not lock it');

    R0 := TokenRequests('refresh_token');
    Token1 := Ws1.AccessToken(ExpiresAt);
    R1 := TokenRequests('refresh_token');
    D.Ok((Token1 <> '') and (ExpiresAt > DateTimeToUnix(Now, False) + 60),
      'an expired access token is refreshed through the store');
    D.Ok((Db1.Locks = 1) and (Db1.Unlocks = 1), 'TryLock ran once, then Unlock',
      Format('%d locks, %d unlocks', [Db1.Locks, Db1.Unlocks]));
    D.Ok((Db1.Saves = 1) and (JsonInt(Db1.LastUnlock, 'version') > StoredVersion) and
      Contains(Db1.LastUnlock, '"refresh_token"'),
      Format('Unlock got the new token set, its version above the stored one (%d -> %d)',
        [StoredVersion, JsonInt(Db1.LastUnlock, 'version')]));
    InDb := ReadText(DbPath);
    D.Ok((InDb = Db1.LastUnlock) and (OMJsonGetString(InDb, 'access_token') = Token1),
      'the "database" now holds the new set');
    D.Ok(R1 = R0 + 1, 'one refresh at the OAuth2 server', Format('%d refresh requests', [R1 - R0]));

    { another workstation: no tokens imported, the same database }
    Ws2 := TOAuthMailAccount.Create(AccountJson);
    Ws2.SetTokenStore(Store2);
    Token2 := Ws2.AccessToken;
    R2 := TokenRequests('refresh_token');
    D.Ok(Token2 = Token1, 'the second account gets the stored, fresh token');
    D.Ok(R2 = R1, 'without another refresh at the OAuth2 server', Format('%d more refresh requests', [R2 - R1]));
    D.Ok((Db2.Locks = 1) and (Db2.Unlocks = 1) and (Db2.Saves = 0) and (Db2.LastUnlock = ''),
      'its store was locked once and unlocked with nothing to save',
      Format('%d locks, %d unlocks, %d saves', [Db2.Locks, Db2.Unlocks, Db2.Saves]));
    D.Ok(ReadText(DbPath) = InDb, 'the database is unchanged');
  finally
    Ws2.Free;
    Ws1.Free;
  end;
  D.Ok((Db1.RefCount = 1) and (Db2.RefCount = 1),
    'freeing the accounts released their stores (the library called the free function)',
    Format('RefCount %d, %d', [Db1.RefCount, Db2.RefCount]));
  Store1 := nil; // destroys Db1
  Store2 := nil;

  { another process holds the row lock longer than the account waits (3/4 of timeout_secs) }
  Db3 := TDbTokenStore.Create(DbPath);
  Store3 := Db3;
  Db4 := TDbTokenStore.Create(DbPath);
  Db4.FailWith := 'the CRM''s database does not answer';
  Store4 := Db4;
  Ws3 := TOAuthMailAccount.Create(AccountJson(' "timeout_secs": 2,'));
  try
    Ws3.SetTokenStore(Store3);
    H := Db3.Hold;
    Raised := False;
    try
      try
        Ws3.AccessToken;
      except
        on E: EOAuthMail do
          Raised := (E.Status = OM_STATUS_TOKENS_LOCKED) and (Db3.Busy = 1) and (Db3.Unlocks = 0);
      end;
    finally
      FileClose(H);
    end;
    D.Ok(Raised, 'lock not taken in time (TryLock False): EOAuthMail OM_STATUS_TOKENS_LOCKED, no Unlock');
    D.Ok(Ws3.AccessToken = Token1, 'once the lock is free, the same account gets the stored token');

    { the database is unreachable: TryLock raises }
    Ws3.SetTokenStore(Store4);
    D.Ok(Db3.RefCount = 1, 'SetTokenStore of another store released the previous one');
    Ws3.ImportTokens(Expired(Ws3.ExportTokens));
    R0 := TokenRequests('refresh_token');
    Raised := False;
    try
      Ws3.AccessToken;
    except
      on E: EOAuthMail do
      begin
        Raised := True;
        D.Ok((E.Status = OM_STATUS_IO_ERROR) and Contains(E.Text, 'does not answer'),
          'TryLock raises: EOAuthMail OM_STATUS_IO_ERROR with the host''s message', StatusOf(E));
      end;
    end;
    D.Ok(Raised, 'a failing store raises EOAuthMail');
    D.Ok(TokenRequests('refresh_token') = R0, 'no refresh without the store''s lock');
    Ws3.SetTokenStore(nil);
    D.Ok(Db4.RefCount = 1, 'SetTokenStore(nil) released the store');
  finally
    Ws3.Free;
  end;
  Store3 := nil;
  Store4 := nil;
  D.Ok(LiveStores = 0, Format('every store destroyed (%d alive)', [LiveStores]));
end;

{ ---- Microsoft Graph: the same unit, an account that reads and sends through Graph ---- }

{ Graph both ways against the Graph emulator (it checks the tokens at the sandbox OAuth2
  server): scopes for Graph, the scripted browser signing in as the Graph mailbox's user. }
function GraphAccountJson: string;
begin
  Result :=
    '{"provider": "custom",' +
    ' "client_id": "confidential-app", "client_secret": "confidential-secret",' +
    ' "client_auth": "request_body",' +
    ' "authorize_url": ' + OMJsonString(Env('SANDBOX_AUTHORIZE_URL')) + ',' +
    ' "token_url": ' + OMJsonString(Env('SANDBOX_TOKEN_URL')) + ',' +
    ' "revocation_url": ' + OMJsonString(Env('SANDBOX_REVOCATION_URL')) + ',' +
    ' "scopes": "openid offline_access email https://graph.microsoft.com/Mail.ReadWrite' +
      ' https://graph.microsoft.com/Mail.Send",' +
    ' "redirect_uri": "http://127.0.0.1/",' +
    ' "email": ' + OMJsonString(Env('OM_GRAPH_USER')) + ',' +
    ' "graph_url": ' + OMJsonString(Env('OM_GRAPH_URL')) + ',' +
    ' "incoming": {"protocol": "graph"},' +
    ' "outgoing": {"protocol": "graph"},' +
    ' "ca_certs_file": ' + OMJsonString(Env('SANDBOX_CA_FILE')) + ',' +
    ' "browser_command": ["node", ' + OMJsonString(Env('OM_BROWSER_SCRIPT')) + ', "--ca", ' +
      OMJsonString(Env('SANDBOX_CA_FILE')) + ', "--login", ' + OMJsonString(Env('OM_GRAPH_USER')) + '],' +
    ' "language": "en"}';
end;

procedure GraphScenario(const GraphSubject: string);
var
  G: TOAuthMailAccount;
  S: string;
  St, Loops, I, J, Seeded: Integer;
  Distinct: Boolean;
begin
  Seeded := StrToInt(Env('OM_GRAPH_SEEDED'));
  G := TOAuthMailAccount.Create(GraphAccountJson);
  try
    G.Authorize(True);
    Loops := 0;
    repeat
      St := G.WaitAuthorization(250);
      Inc(Loops);
    until (St <> OM_STATUS_PENDING) or (Loops > 240);
    D.Ok(St = OM_STATUS_OK, 'Graph: the scripted browser authorized the Graph scopes',
      TOAuthMail.StatusName(St));

    S := Compact(G.ServersCheck(0));
    D.Ok((CountOf(S, '"protocol":"graph"') = 2) and (CountOf(S, '"authenticated":true') = 2),
      'Graph: ServersCheck logs in to Graph both ways', S);
    S := Compact(G.Folders);
    D.Ok(Contains(S, '"name":"Inbox"'), 'Graph: Folders lists Inbox', S);

    S := Compact(G.Fetch('', D.OnGraphMessage));
    D.Ok((Length(D.GraphIds) = Seeded) and Contains(S, Format('"delivered":%d', [Seeded])),
      Format('Graph: Fetch delivered the %d seeded messages (%d)', [Seeded, Length(D.GraphIds)]), S);
    D.Ok((Length(D.GraphIds) > 0) and (D.GraphBad = ''),
      'Graph: Uid = 0, UidValidity = 0, Uidl = the Graph id, the raw bytes, folder INBOX', D.GraphBad);
    Distinct := Length(D.GraphIds) > 0;
    for I := 0 to High(D.GraphIds) do
      for J := 0 to I - 1 do
        if D.GraphIds[I] = D.GraphIds[J] then Distinct := False;
    D.Ok(Distinct, 'Graph: each message has its own Graph id in Uidl');

    SetLength(D.GraphIds, 0);
    S := Compact(G.Fetch('', D.OnGraphMessage));
    D.Ok((Length(D.GraphIds) = 0) and Contains(S, '"delivered":0'),
      'Graph: a second Fetch sees nothing new', S);

    S := Compact(G.Send('{"to": "Client <client@example.test>", "subject": ' +
      OMJsonString(GraphSubject) + ', "text": ' +
      OMJsonString('Bonjour,'#10'notre devis, envoy'#$00E9' par Microsoft Graph.'#10) + '}'));
    D.Ok((JsonInt(S, 'reply_code') = 202) and Contains(S, '"saved_to":"sentitems"') and
      Contains(S, '"message_id"'),
      'Graph: Send through Graph (202; Exchange keeps the copy in sentitems)', S);
  finally
    G.Free;
  end;
end;

{ ---- a Google service account (domain-wide delegation): tokens from its key, no user ---- }

{ The sandbox's service account acting for OM_SA_USER: the key file, no client_id, no
  client_secret, no authorize_url; "subject" is left out: it defaults to "email". }
function ServiceAccountJson(const User: string): string;
begin
  Result :=
    '{"provider": "custom",' +
    ' "flow": "service_account",' +
    ' "service_account_key_file": ' + OMJsonString(Env('SANDBOX_SA_KEY_FILE')) + ',' +
    ' "email": ' + OMJsonString(User) + ',' +
    ' "scopes": "mail",' +
    ' "token_url": ' + OMJsonString(Env('SANDBOX_TOKEN_URL')) + ',' +
    ' "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": ' + Env('OM_IMAPS_PORT') +
      ', "security": "tls"},' +
    ' "outgoing": {"host": "127.0.0.1", "port": ' + Env('OM_SUBMISSION_PORT') +
      ', "security": "starttls"},' +
    ' "ca_certs_file": ' + OMJsonString(Env('SANDBOX_CA_FILE')) + ',' +
    ' "language": "en"}';
end;

procedure ServiceAccountScenario(const SaSubject: string);
var
  Sa: TOAuthMailAccount;
  S, User, Token: string;
  Seeded, Events: Integer;
  ExpiresAt: Int64;
  Raised: Boolean;
begin
  User := Env('OM_SA_USER');
  Seeded := StrToInt(Env('OM_SA_SEEDED'));
  Sa := TOAuthMailAccount.Create(ServiceAccountJson(User));
  try
    Sa.OnTokensChanged := D.OnTokens;
    Events := D.TokenEvents;
    S := Compact(Sa.ConfigJson);
    D.Ok(Contains(S, '"flow":"service_account"') and Contains(S, '"client_email":"mail-robot@') and
      Contains(S, '"subject":"' + User + '"'),
      'service account: ConfigJson shows the account and the user it acts for (subject = email)', S);
    D.Ok(not Contains(S, 'PRIVATE KEY') and not Contains(S, 'MII'),
      'service account: ConfigJson never shows the private key');
    S := Sa.Check;
    D.Ok(Contains(S, 'service_account_delegation') and Contains(S, 'domain-wide delegation'),
      'service account: Check says what the Workspace admin must delegate', S);

    { nothing to authorize: both interactive flows are refused }
    Raised := False;
    try
      Sa.Authorize(False);
    except
      on E: EOAuthMail do
      begin
        Raised := E.Status = OM_STATUS_WRONG_STATE;
        D.Ok(Contains(E.Text, 'service account needs no authorization'),
          'service account: the refusal says why, readably', E.Text);
      end;
    end;
    D.Ok(Raised, 'service account: Authorize raises EOAuthMail OM_STATUS_WRONG_STATE');
    Raised := False;
    try
      Sa.StartDeviceAuthorization;
    except
      on E: EOAuthMail do Raised := E.Status = OM_STATUS_WRONG_STATE;
    end;
    D.Ok(Raised, 'service account: StartDeviceAuthorization raises OM_STATUS_WRONG_STATE too');

    Token := Sa.AccessToken(ExpiresAt);
    D.Ok((Length(Token) > 10) and (ExpiresAt > DateTimeToUnix(Now, False) + 60),
      'service account: AccessToken without any authorization (a signed assertion)');
    D.Ok((D.TokenEvents > Events) and not Contains(D.LastTokens, '"refresh_token"'),
      'service account: OnTokensChanged got the new set, without a refresh token', D.LastTokens);
    S := Sa.ExportTokens;
    D.Ok(not Contains(S, '"refresh_token"') and (OMJsonGetString(S, 'access_token') = Token),
      'service account: ExportTokens holds the access token, no refresh token');

    S := Compact(Sa.ServersCheck(0));
    D.Ok(CountOf(S, '"authenticated":true') = 2,
      'service account: ServersCheck logs in to IMAPS and submission as ' + User, S);

    S := Compact(Sa.Fetch('', D.OnSaMessage));
    D.Ok((Length(D.SaIds) = Seeded) and Contains(S, Format('"delivered":%d', [Seeded])),
      Format('service account: Fetch delivered the %d messages seeded for %s (%d)',
        [Seeded, User, Length(D.SaIds)]), S);
    D.Ok((Length(D.SaIds) > 0) and (D.SaBad = ''),
      'service account: they are the user''s own (Message-ID, To, size, folder, UID)', D.SaBad);
    SetLength(D.SaIds, 0);
    S := Compact(Sa.Fetch('', D.OnSaMessage));
    D.Ok((Length(D.SaIds) = 0) and Contains(S, '"delivered":0'),
      'service account: a second Fetch sees nothing new', S);

    S := Compact(Sa.Send('{"to": "Achats <achats@example.test>", "subject": ' +
      OMJsonString(SaSubject) + ', "text": ' +
      OMJsonString('Bonjour,'#10'notre relance, envoy'#$00E9'e par le compte de service.'#10) + '}'));
    D.Ok(Contains(S, '"mail_from":"' + User + '"') and (JsonInt(S, 'reply_code') = 250) and
      Contains(S, '"message_id"'),
      'service account: Send through Dovecot as ' + User + ' (250)', S);
    D.Ok(Sa.AccessToken = Token, 'service account: the token is reused while valid');
  finally
    Sa.Free;
  end;
end;

{ ---- parsing, browsing and acting on a mailbox, waiting for mail ---- }

const
  // The message run_test.sh stored with seed.py --eml (names in RFC 2047 / RFC 2231 words).
  FactureId = 'facture-7@elan.example';
  FactureSubject = 'Facture n'#$00B0'7 '#$2013' soci'#$00E9't'#$00E9' '#$00C9'lan';
  FactureFile = 'Facture n'#$00B0'7 '#$00C9'lan.pdf';
  FacturePdf = '%PDF-1.4'#10'%facture-7'#10'%%EOF'#10; // the attachment's decoded bytes
  ElanName = 'Soci'#$00E9't'#$00E9' '#$00C9'lan';
  ClientsFolder = 'Clients/Soci'#$00E9't'#$00E9' '#$00C9'lan';

constructor TSeedThread.Create(const User: string; DelayMs: Integer);
begin
  FUser := User;
  FDelayMs := DelayMs;
  inherited Create(False);
end;

procedure TSeedThread.Execute;
{$IFDEF FPC}
var
  O: AnsiString;
begin
  Sleep(FDelayMs);
  try
    O := '';
    if not RunCommand('python3', [AnsiString(GetEnvironmentVariable('OM_SEED_SCRIPT')),
      AnsiString(GetEnvironmentVariable('OM_MAILDIR_ROOT')), AnsiString(FUser), '1', '--new',
      '--subject-prefix', 'Wake'], O) then
      Error := 'seed.py failed: ' + string(O);
  except
    on E: Exception do Error := string(E.Message);
  end;
end;
{$ELSE}
begin
  Error := 'TSeedThread: the sandbox test runs with Free Pascal only';
end;
{$ENDIF}

{ Data holds exactly the ASCII text S. }
function BytesAre(const Data: TBytes; const S: string): Boolean;
var
  I: Integer;
begin
  Result := Length(Data) = Length(S);
  if Result then
    for I := 0 to High(Data) do
      if Data[I] <> Ord(S[I + 1]) then Exit(False);
end;

function Names(const A: TOMAddresses): string;
var
  I: Integer;
begin
  Result := '';
  for I := 0 to High(A) do
    Result := Result + A[I].Name + ' <' + A[I].Address + '>;';
end;

function FlagsText(const F: TOMStrings): string;
var
  I: Integer;
begin
  Result := '';
  for I := 0 to High(F) do Result := Result + F[I] + ' ';
end;

{ The index of the listed message with MessageId Id, -1 when none. }
function Find(const Page: TOMMessagePage; const Id: string): Integer;
var
  I: Integer;
begin
  for I := 0 to High(Page.Messages) do
    if Page.Messages[I].MessageId = Id then Exit(I);
  Result := -1;
end;

function AttachmentNamed(const P: TOMParsedMessage; const Name: string): Integer;
var
  I: Integer;
begin
  for I := 0 to High(P.Attachments) do
    if P.Attachments[I].FileName = Name then Exit(I);
  Result := -1;
end;

{ The checks of a parsed facture (from FetchMessages' Parse, Fetch's "parse", ParseMessage). }
procedure CheckFacture(const P: TOMParsedMessage; const How: string);
var
  Pdf: Integer;
begin
  D.Ok((Length(P.From) = 1) and (P.From[0].Name = ElanName) and (P.From[0].Address = 'factures@elan.example') and
    (P.Subject = FactureSubject) and (P.MessageId = FactureId),
    How + ': From (name decoded), Subject, MessageId', Names(P.From) + ' ' + P.Subject);
  Pdf := AttachmentNamed(P, FactureFile);
  D.Ok((Length(P.Attachments) = 2) and (Pdf >= 0) and (P.Attachments[Pdf].ContentType = 'application/pdf') and
    (P.Attachments[Pdf].Size = Length(FacturePdf)) and (P.Attachments[Pdf].Disposition = 'attachment'),
    How + ': the attachment ' + FactureFile + ' (RFC 2231 name), application/pdf, its size',
    IntToStr(Length(P.Attachments)) + ' attachments');
end;

procedure BrowseScenario;
var
  B: TOAuthMailAccount;
  User, Dir, Why: string;
  Page, Page2: TOMMessagePage;
  Opts: TOMListOptions;
  F, G: TOMListedMessage;
  P: TOMParsedMessage;
  Raw, Att: TBytes;
  Saved: TOMSavedAttachments;
  W: TOMWaitResult;
  Seeder: TSeedThread;
  I, N, Seeded, Pdf, Png: Integer;
  T0: TDateTime;
  Ms: Int64;
  Good, Raised: Boolean;
begin
  User := Env('OM_BROWSE_USER');
  Seeded := StrToInt(Env('OM_BROWSE_SEEDED')) + 1; // seed.py's messages and the facture
  B := TOAuthMailAccount.Create(ServiceAccountJson(User));
  try
    { a listing: the header fields without downloading the messages }
    Page := B.ListMessages('INBOX');
    D.Ok((Length(Page.Messages) = Seeded) and (Page.Total = Seeded) and (Page.NextCursor = '') and
      (Page.UidValidity <> 0) and (Page.Folder = 'INBOX'),
      Format('ListMessages: the %d messages of INBOX, Total, UidValidity, no next page', [Seeded]),
      Format('%d messages, total %d, cursor "%s"', [Length(Page.Messages), Page.Total, Page.NextCursor]));
    I := Find(Page, FactureId);
    D.Ok(I >= 0, 'ListMessages: the facture is listed (MessageId without <>)');
    if I < 0 then Exit;
    F := Page.Messages[I];
    D.Ok((F.Subject = FactureSubject) and (Length(F.From) = 1) and (F.From[0].Name = ElanName) and
      (F.From[0].Address = 'factures@elan.example'),
      'ListMessages: the subject and the sender''s name decoded (RFC 2047)', F.Subject + ' / ' + Names(F.From));
    D.Ok((Length(F.&To) = 1) and (F.&To[0].Name = 'Z'#$00E9'lie Durand') and (F.&To[0].Address = User) and
      (Length(F.Cc) = 1) and (F.Cc[0].Name = 'J'#$00E9'r'#$00F4'me Br'#$00FB'l'#$00E9) and (Length(F.Bcc) = 0),
      'ListMessages: To and Cc (a name in ISO-8859-1)', Names(F.&To) + ' ' + Names(F.Cc));
    D.Ok((F.DateUnix = 1770193800) and (F.DateText = '2026-02-04T09:30:00+01:00') and
      (Abs(F.Date - EncodeDateTime(2026, 2, 4, 8, 30, 0, 0)) < 1 / SecsPerDay),
      'ListMessages: Date (UTC), DateUnix, DateText with the sender''s offset', F.DateText);
    D.Ok((Length(F.InReplyTo) = 1) and (F.InReplyTo[0] = 'devis-42@example.test') and
      (Length(F.References) = 2) and (F.References[1] = 'devis-42@example.test'),
      'ListMessages: InReplyTo, References');
    D.Ok(F.HasAttachments and (F.Uid > 0) and (F.Id = IntToStr(F.Uid)) and (F.Size > 0) and
      (Length(F.Flags) = 0) and (F.InternalDate > 1704067200),
      'ListMessages: HasAttachments, Id = the UID, Size, no flags, InternalDate',
      Format('id %s uid %d size %d flags %s', [F.Id, F.Uid, F.Size, FlagsText(F.Flags)]));
    Good := True;
    for I := 0 to High(Page.Messages) do
    begin
      if (I > 0) and (Page.Messages[I].Uid >= Page.Messages[I - 1].Uid) then Good := False;
      if (Page.Messages[I].MessageId <> FactureId) and
        (Page.Messages[I].HasAttachments or (Pos('Liste ', Page.Messages[I].Subject) <> 1)) then Good := False;
    end;
    D.Ok(Good, 'ListMessages: newest first; the other messages have no attachment');

    { pages }
    Opts := OMListOptions('INBOX', 2);
    Opts.Order := loOldestFirst;
    Page := B.ListMessages(Opts);
    D.Ok((Length(Page.Messages) = 2) and (Page.NextCursor <> '') and (Page.Messages[0].Uid < Page.Messages[1].Uid),
      'ListMessages Limit 2, oldest first: 2 messages and a NextCursor');
    Opts.Cursor := Page.NextCursor;
    Page2 := B.ListMessages(Opts);
    D.Ok((Length(Page2.Messages) = Seeded - 2) and (Page2.NextCursor = '') and (Length(Page.Messages) = 2) and
      (Page2.Messages[0].Uid > Page.Messages[1].Uid),
      'ListMessages with the cursor: the rest, then no NextCursor', IntToStr(Length(Page2.Messages)));

    { search criteria }
    Opts := OMListOptions;
    Opts.Search.Subject := 'facture';
    Page := B.ListMessages(Opts);
    D.Ok((Length(Page.Messages) = 1) and (Page.Messages[0].MessageId = FactureId),
      'ListMessages, Search.Subject: only the facture', IntToStr(Length(Page.Messages)));
    Opts := OMListOptions;
    Opts.Search.Before := EncodeDate(2025, 1, 1);
    Page := B.ListMessages(Opts);
    D.Ok(Length(Page.Messages) = Seeded - 1, 'ListMessages, Search.Before: the messages received in 2024',
      IntToStr(Length(Page.Messages)));

    { chosen messages, fetched whole and parsed; the fetch state is not touched }
    SetLength(D.Got, 0);
    SetLength(D.GotData, 0);
    N := B.FetchMessages(OMSelection('INBOX', [F.Id]), D.OnCollect, True);
    D.Ok((N = 1) and (Length(D.Got) = 1) and D.Got[0].HasParsed and (D.Got[0].Uid = F.Uid) and
      (D.Got[0].ParsedJson <> ''),
      'FetchMessages (Parse): the chosen message, with Msg.Parsed', IntToStr(N));
    if Length(D.Got) <> 1 then Exit;
    CheckFacture(D.Got[0].Parsed, 'FetchMessages Parsed');
    Raw := D.GotData[0];

    SetLength(D.Got, 0);
    N := B.FetchMessages(OMSelectionUids('INBOX', [F.Uid], Page.UidValidity), D.OnCollect);
    D.Ok((N = 1) and (Length(D.Got) = 1) and not D.Got[0].HasParsed and (D.Got[0].ParsedJson = ''),
      'FetchMessages by UID with UidValidity, without Parse: no parsed record');

    { TOAuthMail.ParseMessage: the bytes from anywhere }
    P := TOAuthMail.ParseMessage(Raw);
    CheckFacture(P, 'ParseMessage');
    D.Ok((Pos('facture n'#$00B0'7', P.Text) > 0) and (Pos('<p>Bonjour', P.Html) = 1) and not P.TextFromHtml,
      'ParseMessage: Text (quoted-printable UTF-8 decoded) and Html', P.Text);
    D.Ok(not P.Encrypted and not P.Signed and (P.Security = '') and not P.HasTnef and not P.Unreadable,
      'ParseMessage: not encrypted, not signed, no TNEF');
    Png := AttachmentNamed(P, 'logo.png');
    D.Ok((Png >= 0) and (P.Attachments[Png].ContentId = 'logo@elan.example') and
      (P.Attachments[Png].Disposition = 'inline') and (P.Attachments[Png].Size = 8),
      'ParseMessage: the inline image, its ContentId');
    P := TOAuthMail.ParseMessage(Raw, False, False);
    D.Ok((P.Text = '') and (P.Html = '') and (P.Subject = FactureSubject), 'ParseMessage without the bodies');
    P := TOAuthMail.ParsedMessageFromJson(TOAuthMail.ParseMessageJson(Raw));
    D.Ok(P.Subject = FactureSubject, 'ParsedMessageFromJson(ParseMessageJson)');

    { the attachment's bytes }
    P := TOAuthMail.ParseMessage(Raw);
    Pdf := AttachmentNamed(P, FactureFile);
    if Pdf >= 0 then
    begin
      Att := TOAuthMail.GetAttachment(Raw, P.Attachments[Pdf].Index);
      D.Ok(BytesAre(Att, FacturePdf), 'GetAttachment: the decoded bytes of the PDF (base64)',
        IntToStr(Length(Att)) + ' bytes');
    end;
    Raised := False;
    try
      TOAuthMail.GetAttachment(Raw, 9);
    except
      on E: EOAuthMail do Raised := (E.Status = OM_STATUS_INVALID_ARGUMENT) and Contains(E.Text, '2 attachment');
    end;
    D.Ok(Raised, 'GetAttachment of a missing index: EOAuthMail INVALID_ARGUMENT saying how many there are');

    { saved into a directory with a non-ASCII name }
    Dir := IncludeTrailingPathDelimiter(Env('OM_WORKDIR')) + 'pi'#$00E8'ces jointes';
    ForceDirectories(Dir);
    Saved := TOAuthMail.SaveAttachments(Raw, Dir);
    Good := Length(Saved) = 2;
    for I := 0 to High(Saved) do
      if not FileExists(Saved[I].Path) then Good := False;
    D.Ok(Good, 'SaveAttachments: both parts written', IntToStr(Length(Saved)));
    I := 0;
    while (I < Length(Saved)) and (Saved[I].FileName <> FactureFile) do Inc(I);
    D.Ok((I < Length(Saved)) and (ExtractFileName(Saved[I].Path) = FactureFile) and
      (ReadText(Saved[I].Path) = FacturePdf) and (Saved[I].ContentType = 'application/pdf'),
      'SaveAttachments: "' + FactureFile + '" with the PDF''s bytes');
    Saved := TOAuthMail.SaveAttachments(Raw, Dir, False);
    D.Ok((Length(Saved) = 1) and
      (ExtractFileName(Saved[0].Path) = 'Facture n'#$00B0'7 '#$00C9'lan (2).pdf'),
      'SaveAttachments again, without inline parts: one file, the existing one kept (" (2)")');
    Raised := False;
    try
      TOAuthMail.SaveAttachments(Raw, Dir + PathDelim + 'missing');
    except
      on E: EOAuthMail do Raised := E.Status = OM_STATUS_IO_ERROR;
    end;
    D.Ok(Raised, 'SaveAttachments into a missing directory: EOAuthMail IO_ERROR');

    { Fetch with the option "parse": every message new (FetchMessages left the state alone) }
    SetLength(D.Got, 0);
    B.Fetch('{"parse": true}', D.OnCollect);
    Good := Length(D.Got) = Seeded;
    N := -1;
    for I := 0 to High(D.Got) do
    begin
      if not D.Got[I].HasParsed or (D.Got[I].Parsed.MessageId = '') then Good := False;
      if D.Got[I].Parsed.MessageId = FactureId then N := I;
    end;
    D.Ok(Good and (N >= 0), Format('Fetch "parse": true: the %d messages, each with Msg.Parsed', [Seeded]),
      IntToStr(Length(D.Got)));
    if N >= 0 then CheckFacture(D.Got[N].Parsed, 'Fetch Parsed');

    { flags }
    B.SetFlags(OMSelection('INBOX', [F.Id]), ['flagged', 'seen'], []);
    Page := B.ListMessages('INBOX');
    I := Find(Page, FactureId);
    if I >= 0 then Why := FlagsText(Page.Messages[I].Flags) else Why := 'not listed';
    D.Ok((I >= 0) and OMHasFlag(Page.Messages[I].Flags, '\Flagged') and OMHasFlag(Page.Messages[I].Flags, '\Seen'),
      'SetFlags flagged, seen: the next listing shows \Flagged \Seen', Why);
    Opts := OMListOptions;
    Opts.Search.Flagged := tsYes;
    Page := B.ListMessages(Opts);
    D.Ok((Length(Page.Messages) = 1) and (Page.Messages[0].Id = F.Id), 'Search.Flagged = tsYes: only that one');
    B.SetFlags(OMSelection('INBOX', [F.Id]), [], ['seen']);
    Opts := OMListOptions;
    Opts.Search.Unseen := tsYes;
    Page := B.ListMessages(Opts);
    D.Ok(Length(Page.Messages) = Seeded, 'SetFlags remove seen: every message unseen again',
      IntToStr(Length(Page.Messages)));

    { folders: create, move, copy, delete }
    B.CreateFolder(ClientsFolder);
    B.CreateFolder(ClientsFolder); // exists already: not an error
    D.Ok(Contains(B.Folders, '"' + ClientsFolder + '"'), 'CreateFolder "' + ClientsFolder + '" (twice)');
    Page := B.ListMessages('INBOX');
    I := 0;
    while (I < Length(Page.Messages)) and (Page.Messages[I].MessageId = FactureId) do Inc(I);
    G := Page.Messages[I];
    B.MoveMessages(OMSelection('INBOX', [G.Id]), ClientsFolder);
    Page := B.ListMessages('INBOX');
    Page2 := B.ListMessages(ClientsFolder);
    D.Ok((Length(Page.Messages) = Seeded - 1) and (Find(Page, G.MessageId) < 0) and
      (Length(Page2.Messages) = 1) and (Page2.Messages[0].MessageId = G.MessageId),
      'MoveMessages: out of INBOX, into ' + ClientsFolder,
      Format('%d in INBOX, %d in the folder', [Length(Page.Messages), Length(Page2.Messages)]));
    B.CopyMessages(OMSelection('INBOX', [F.Id]), 'Archive');
    Page := B.ListMessages('INBOX');
    Page2 := B.ListMessages('Archive');
    D.Ok((Length(Page.Messages) = Seeded - 1) and (Length(Page2.Messages) = 1) and
      (Page2.Messages[0].MessageId = FactureId) and Page2.Messages[0].HasAttachments,
      'CopyMessages into Archive (created): INBOX keeps it');
    if Length(Page2.Messages) = 1 then
      B.DeleteMessages(OMSelection('Archive', [Page2.Messages[0].Id]));
    Page2 := B.ListMessages('Archive');
    D.Ok(Length(Page2.Messages) = 0, 'DeleteMessages: Archive is empty again');

    Raised := False;
    try
      B.MoveMessages(OMSelection('INBOX', []), 'Archive');
    except
      on E: EOAuthMail do Raised := E.Status = OM_STATUS_INVALID_ARGUMENT;
    end;
    D.Ok(Raised, 'MoveMessages of nothing: EOAuthMail INVALID_ARGUMENT');
    Raised := False;
    try
      B.ListMessages('Nowhere');
    except
      on E: EOAuthMail do Raised := E.Status = OM_STATUS_INVALID_ARGUMENT;
    end;
    D.Ok(Raised, 'ListMessages of an unknown folder: EOAuthMail INVALID_ARGUMENT');

    { waiting for mail }
    T0 := Now;
    W := B.WaitForMail('INBOX', 1500);
    Ms := MilliSecondsBetween(Now, T0);
    D.Ok(not W.NewMail and (W.Method = 'idle') and (W.Folder = 'INBOX') and (Ms >= 1400),
      Format('WaitForMail 1.5 s, nothing arrives: NewMail False after %d ms (IDLE)', [Ms]), W.Method);
    Seeder := TSeedThread.Create(User, 3000);
    try
      T0 := Now;
      W := B.WaitForMail('INBOX', 60000);
      Ms := MilliSecondsBetween(Now, T0);
      Seeder.WaitFor;
      Why := Seeder.Error;
    finally
      Seeder.Free;
    end;
    D.Ok(Why = '', 'a message delivered by another thread (seed.py) during the wait', Why);
    D.Ok(W.NewMail and (W.Method = 'idle') and (Ms < 30000),
      Format('WaitForMail woken by the new message after %d ms (of 60000)', [Ms]));
    Page := B.ListMessages('INBOX');
    D.Ok((Length(Page.Messages) = Seeded) and (Pos('Wake ', Page.Messages[0].Subject) = 1),
      'the new message is listed first', IntToStr(Length(Page.Messages)));
  finally
    B.Free;
  end;
end;

function LayoutString: string;
var
  M: Tom_message;
  B: NativeUInt;
begin
  B := NativeUInt(@M);
  Result := Format('%d,%d,%d,%d,%d,%d,%d,%d,%d,%d', [SizeOf(Tom_message),
    NativeUInt(@M.uid) - B, NativeUInt(@M.uidvalidity) - B, NativeUInt(@M.resync) - B,
    NativeUInt(@M.size) - B, NativeUInt(@M.internal_date) - B, NativeUInt(@M.folder) - B,
    NativeUInt(@M.flags) - B, NativeUInt(@M.uidl) - B, NativeUInt(@M.parsed_json) - B]);
end;

const
  // "Devis n°42 – société Élan", written with code points so that the source encoding
  // (Delphi reads BOM-less files as ANSI) cannot change it.
  Subject = 'Devis n'#$00B0'42 '#$2013' soci'#$00E9't'#$00E9' '#$00C9'lan';

var
  Acc, Acc2, Acc3: TOAuthMailAccount;
  S, Url, Info, Tokens, State, Dir: string;
  St, Seeded, Total, I, Loops: Integer;
  ExpiresAt: Int64;
  Raw: TBytes;
  U: UTF8String;
  T: TCancelThread;
  Raised: Boolean;
  SR: TSearchRec;

begin
{$IFDEF FPC}
  // FPC 3.2's RTL (Format, Exception.Message, ForceDirectories, Writeln) works with AnsiString
  // in DefaultSystemCodePage, which is ASCII under LANG=C: non-ASCII text and file names would
  // become '?'. On Linux, file names and the console are UTF-8: say so, as Lazarus does.
  SetMultiByteConversionCodePage(CP_UTF8);
  SetMultiByteFileSystemCodePage(CP_UTF8);
  SetMultiByteRTLFileSystemCodePage(CP_UTF8);
  SetTextCodePage(Output, CP_UTF8);
{$ENDIF}
  D := TDemo.Create;
  Acc := nil;
  Acc2 := nil;
  Acc3 := nil;
  try
    try
      Seeded := StrToInt(Env('OM_SEEDED'));

      { the library is loaded on first use (not linked: the program starts without it) }
      D.Ok(not TOAuthMail.LibraryLoaded and (TOAuthMail.LibraryFileName = ''),
        'the program started without the library (loaded on first use)');
      S := IncludeTrailingPathDelimiter(Env('OM_WORKDIR')) + 'nowhere' + PathDelim + OAuthMailLib;
      Raised := False;
      try
        TOAuthMail.LoadLibrary(S);
      except
        on E: EOAuthMailLibrary do
        begin
          Raised := True;
          D.Ok(Contains(E.Text, S) and Contains(E.Text, IntToStr(SizeOf(Pointer) * 8) + '-bit') and
            (E.Searched = S) and (E.Reason <> '') and (E.LibraryName = OAuthMailLib),
            'LoadLibrary of a missing file: EOAuthMailLibrary naming the file, the bitness, the error', E.Text);
        end;
      end;
      D.Ok(Raised and not TOAuthMail.LibraryLoaded, 'a failed load raises EOAuthMailLibrary and keeps nothing');
{$IFDEF LINUX}
      Raised := False;
      try
        TOAuthMail.LoadLibrary('libc.so.6'); // a library, but not oauthmail
      except
        on E: EOAuthMailLibrary do
          Raised := Contains(E.Text, 'lacks om_account_new') and Contains(E.Text, 'libc.so.6');
      end;
      D.Ok(Raised and not TOAuthMail.LibraryLoaded, 'a library without the om_* functions: EOAuthMailLibrary naming what it lacks');
{$ENDIF}

      { library, version, ABI layout }
      TOAuthMail.Init; // the first call: loads the library (LD_LIBRARY_PATH here)
      D.Ok(TOAuthMail.LibraryLoaded and (TOAuthMail.LibraryFileName <> ''),
        'TOAuthMail.Init loaded the library: ' + TOAuthMail.LibraryFileName);
      D.Ok(TOAuthMail.VersionNumber = OM_HEADER_VERSION_NUMBER,
        'om_version_number matches the header (' + TOAuthMail.Version + ')');
      D.Ok(LayoutString = Env('OM_C_LAYOUT'), 'om_message layout matches the C compiler (' +
        LayoutString + ')', 'C: ' + Env('OM_C_LAYOUT'));
      D.Ok(TOAuthMail.StatusName(OM_STATUS_TIMEOUT) = 'OM_STATUS_TIMEOUT', 'om_status_name');
      D.Ok(TOAuthMail.StatusName(OM_STATUS_LOGIN_REJECTED) = 'OM_STATUS_LOGIN_REJECTED',
        'status constants line up with the library');
      D.Ok((TOAuthMail.StatusName(OM_STATUS_TOKENS_LOCKED) = 'OM_STATUS_TOKENS_LOCKED') and
        (TOAuthMail.StatusName(OM_STATUS_DELIVERY_UNKNOWN) = 'OM_STATUS_DELIVERY_UNKNOWN'),
        'OM_STATUS_TOKENS_LOCKED = 22 and OM_STATUS_DELIVERY_UNKNOWN = 23 line up with the library');
      TOAuthMail.SetLogProc(OnLog, OM_LOG_INFO);
      D.Ok(TOAuthMail.LogSinksAlive = 1, 'SetLogProc: one log sink held by the library');

      { an invalid configuration raises EOAuthMail(INVALID_CONFIG) naming the key }
      Raised := False;
      try
        TOAuthMailAccount.Create(AccountJson(' "client_sekret": "x",')).Free;
      except
        on E: EOAuthMail do
        begin
          Raised := True;
          D.Ok(E.Status = OM_STATUS_INVALID_CONFIG, 'invalid config: Status = OM_STATUS_INVALID_CONFIG',
            StatusOf(E));
          D.Ok(Contains(E.Message, 'client_sekret'), 'invalid config: the message names the key',
            E.Message);
        end;
      end;
      D.Ok(Raised, 'invalid config raises EOAuthMail');
      Raised := False;
      try
        TOAuthMailAccount.Create('{"provider": "custom", "timeout_secs": "soon"}').Free;
      except
        on E: EOAuthMail do
          Raised := (E.Status = OM_STATUS_INVALID_CONFIG) and Contains(E.Message, 'timeout_secs');
      end;
      D.Ok(Raised, 'wrong type raises INVALID_CONFIG naming timeout_secs');

      { the account }
      Acc := TOAuthMailAccount.Create(AccountJson);
      D.Ok(Acc.Handle <> nil, 'account created from JSON');
      Acc.OnTokensChanged := D.OnTokens;
      S := Acc.ConfigJson;
      D.Ok(Contains(S, '********') and not Contains(S, 'confidential-secret'),
        'ConfigJson masks the secret');
      S := Acc.Check;
      D.Ok((Length(S) > 0) and (S[1] = '['), 'Check returns a JSON array of findings', S);

      Raised := False;
      try
        Acc.AccessToken;
      except
        on E: EOAuthMail do
        begin
          Raised := E.Status = OM_STATUS_AUTHORIZATION_REQUIRED;
          D.Ok((E.Hint <> '') and (CountOf(E.Text, E.Hint) = 1),
            'the message holds the hint once (not repeated)', E.Text);
          D.Ok((Copy(E.Text, 1, 3) <> 'om_') and not Contains(E.Text, 'om_get_access_token') and
            (E.Call = 'om_get_access_token'),
            'no C function name in the message (E.Call has it for logs)', E.Text);
        end;
      end;
      D.Ok(Raised, 'AccessToken before authorization raises AUTHORIZATION_REQUIRED');

      { the admin's "open_browser": false is kept by Authorize without an explicit choice }
      Acc2 := TOAuthMailAccount.Create(AccountJson(' "open_browser": false,'));
      Url := Acc2.Authorize(Info);
      D.Ok(Contains(Compact(Info), '"browser_opened":false') and (Url <> ''),
        'Authorize does not override the configuration''s open_browser: false', Info);
      Acc2.CancelAuthorization;
      FreeAndNil(Acc2);

      { browser authorization (the scripted browser plays the user) }
      Url := Acc.Authorize(True, Info);
      D.Ok(Copy(Url, 1, Length(Env('SANDBOX_AUTHORIZE_URL'))) = Env('SANDBOX_AUTHORIZE_URL'),
        'Authorize returns the authorization URL', Url);
      D.Ok(Contains(Url, 'code_challenge_method=S256'), 'the URL uses PKCE S256');
      Loops := 0;
      repeat
        St := Acc.WaitAuthorization(250);
        Inc(Loops);
      until (St <> OM_STATUS_PENDING) or (Loops > 240);
      D.Ok(St = OM_STATUS_OK, Format('WaitAuthorization -> OK after %d wait(s)', [Loops]),
        TOAuthMail.StatusName(St));
      D.Ok(D.TokenEvents >= 1, 'OnTokensChanged ran inside WaitAuthorization');
      D.Ok(Contains(D.LastTokens, '"refresh_token"'), 'OnTokensChanged got the token set JSON');

      S := Acc.AccessToken(ExpiresAt);
      D.Ok(Length(S) > 10, Format('AccessToken (%d chars)', [Length(S)]));
      D.Ok(ExpiresAt > DateTimeToUnix(Now) - 86400, 'AccessToken gives the expiry (Unix seconds)');

      Tokens := Acc.ExportTokens;
      D.Ok(Contains(Tokens, '"refresh_token"') and Contains(Tokens, '"version"'), 'ExportTokens');

      { the admin's "test these settings" button }
      S := Compact(Acc.ServersCheck(0));
      D.Ok(CountOf(S, '"authenticated":true') = 2, 'ServersCheck: IMAPS and submission log in', S);

      S := Acc.Folders;
      D.Ok(Contains(S, '"INBOX"'), 'Folders lists INBOX');

      { fetch: an exception in the handler stops the fetch and comes back out of Fetch }
      D.Mode := mRaise;
      Raised := False;
      try
        Acc.Fetch('{"folder": "INBOX"}', D.OnMessage);
      except
        on E: EDemoHandler do Raised := True;
        on E: Exception do D.Ok(False, 'handler exception re-raised', StatusOf(E));
      end;
      D.Ok(Raised, 'an exception raised by the handler is re-raised by Fetch (same class)');

      { OM_FETCH_STOP at the second message: only the first is accepted }
      D.Mode := mStopAtSecond;
      D.Count := 0;
      S := Compact(Acc.Fetch('{"folder": "INBOX"}', D.OnMessage));
      D.Ok((D.Count = 1) and Contains(S, '"delivered":1') and Contains(S, '"stopped_by_callback":true'),
        'faStop: one message accepted, fetch stopped', S);
      Total := D.Count;

      { the rest; the handler tries a re-entrant call on the first one }
      D.Mode := mReentrant;
      D.Count := 0;
      S := Compact(Acc.Fetch('{"folder": "INBOX"}', D.OnMessage));
      Total := Total + D.Count;
      D.Ok(D.ReentrantStatus = OM_STATUS_REENTRANT_CALL,
        'a call on the account from inside its callback raises REENTRANT_CALL',
        TOAuthMail.StatusName(D.ReentrantStatus));
      D.Ok(Total = Seeded, Format('Fetch delivered the %d seeded messages (%d)', [Seeded, Total]), S);
      D.Ok(D.BadData = '', 'the event gets the raw bytes (RFC822.SIZE long, headers) and metadata', D.BadData);
      for I := 1 to High(D.Uids) do
        if D.Uids[I] <= D.Uids[I - 1] then D.BadData := 'UIDs not increasing';
      D.Ok(D.BadData = '', 'UIDs in increasing order');

      D.Mode := mCount;
      D.Count := 0;
      S := Compact(Acc.Fetch('{"folder": "INBOX"}', D.OnMessage));
      D.Ok((D.Count = 0) and Contains(S, '"delivered":0'), 'a second Fetch sees nothing new', S);

      { sync state and tokens carried to a second account (another workstation) }
      State := Acc.ExportSyncState;
      D.Ok(Contains(State, 'INBOX'), 'ExportSyncState');
      Acc2 := TOAuthMailAccount.Create(AccountJson('', 'fr'));
      Acc2.ImportTokens(Tokens);
      D.Ok(Acc2.ExportTokens <> '', 'ImportTokens into a second account');
      { ImportTokens raises like every other call (as .NET does); TryImportTokens answers False }
      Raised := False;
      try
        Acc2.ImportTokens(OlderTokens(Tokens));
      except
        on E: EOAuthMail do
          Raised := (E.Status = OM_STATUS_STALE_TOKENS) and (E.Text <> '') and not Contains(E.Text, 'om_');
      end;
      D.Ok(Raised, 'ImportTokens of an older version raises EOAuthMail OM_STATUS_STALE_TOKENS (readable, no C name)');
      D.Ok(not Acc2.TryImportTokens(OlderTokens(Tokens)), 'TryImportTokens of an older version -> False, not raised');
      D.Ok(Acc2.TryImportTokens(Tokens), 'TryImportTokens of the same version -> True');
      D.Ok(Acc2.AccessToken = Acc.AccessToken, 'the second account uses the imported token');
      Acc2.ImportSyncState(State);
      D.Count := 0;
      Acc2.Fetch('', D.OnMessage);
      D.Ok(D.Count = 0, 'ImportSyncState: the second account fetches nothing new');

      Dir := IncludeTrailingPathDelimiter(Env('OM_WORKDIR')) + 'bo'#$00EE'te d'#$00E9'p'#$00F4't';
      ForceDirectories(Dir);
      S := Compact(Acc2.FetchToDirectory('{"only_new": false}', Dir));
      I := 0;
      if FindFirst(IncludeTrailingPathDelimiter(Dir) + '*.eml', faAnyFile, SR) = 0 then
      begin
        repeat Inc(I) until FindNext(SR) <> 0;
        FindClose(SR);
      end;
      D.Ok(I = Seeded, Format('FetchToDirectory wrote %d .eml files into a non-ASCII directory', [I]), S);

      Raised := False;
      try
        Acc2.ImportSyncState('{not json');
      except
        on E: EOAuthMail do Raised := E.Status = OM_STATUS_INVALID_ARGUMENT;
      end;
      D.Ok(Raised, 'ImportSyncState of malformed JSON raises INVALID_ARGUMENT');

      { sending }
      S := Acc.Send('{"to": "Client <client@example.test>", "subject": ' + OMJsonString(Subject) +
        ', "text": ' + OMJsonString('Bonjour,'#10'veuillez trouver notre devis n'#$00B0'42.'#10) + '}');
      D.Ok(Contains(S, '"message_id"'), 'Send with the subject "' + Subject + '"', S);

      U := UTF8String('From: alice@example.test'#13#10'To: raw@example.test'#13#10 +
        'Subject: raw'#13#10'Message-ID: <raw-1@example.test>'#13#10#13#10'raw body'#13#10);
      SetLength(Raw, Length(U));
      Move(U[1], Raw[0], Length(U));
      S := Acc.SendRaw(Raw);
      D.Ok(Contains(S, 'raw@example.test'), 'SendRaw', S);

      S := Compact(Acc.SendBatch('[{"to": "bob@example.test", "subject": "batch 1", "text": "1"},' +
        ' {"to": "reject@example.test", "subject": "batch 2", "text": "2"}]'));
      D.Ok((CountOf(S, '"ok":true') = 1) and (CountOf(S, '"ok":false') = 1),
        'SendBatch: one result per message (one refused recipient)', S);

      Raised := False;
      try
        Acc.Send('{"subject": "nobody", "text": "x"}');
      except
        on E: EOAuthMail do Raised := E.Status = OM_STATUS_INVALID_ARGUMENT;
      end;
      D.Ok(Raised, 'Send without a recipient raises INVALID_ARGUMENT');

      { an exception in OnTokensChanged comes out of the call that ran the callback }
      Tokens := Acc2.ExportTokens;
      D.Ok(Acc2.TryImportTokens(TweakInt(TweakInt(Tokens, 'version', 1), 'expires_at', 0, 1)),
        'TryImportTokens of a newer set with an expired access token -> True');
      Acc2.OnTokensChanged := D.OnTokensRaise;
      Raised := False;
      try
        Acc2.AccessToken;
      except
        on E: EDemoHandler do Raised := True;
        on E: Exception do D.Ok(False, 'OnTokensChanged exception', StatusOf(E));
      end;
      D.Ok(Raised, 'refresh: an exception raised by OnTokensChanged is re-raised by AccessToken');
      Acc2.OnTokensChanged := nil;
      D.Ok(Acc2.AccessToken <> '', 'the refreshed token is kept all the same');

      { a token event and the fetch handler both raise inside one Fetch (the refresh before the
        login runs the token event): Fetch raises the handler's exception, and the token event's
        is dropped, not left pending for a later call to re-raise }
      D.Ok(Acc2.TryImportTokens(Expired(Acc2.ExportTokens)), 'an expired access token again: the next Fetch refreshes');
      Acc2.OnTokensChanged := D.OnTokensRaise;
      D.TokenRaises := 0;
      D.Mode := mRaise;
      S := '';
      try
        Acc2.Fetch('{"folder": "INBOX", "only_new": false}', D.OnMessage);
      except
        on E: Exception do S := E.ClassName + ': ' + E.Message;
      end;
      D.Ok((D.TokenRaises = 1) and Contains(S, 'EDemoHandler: the host failed on uid'),
        'token event and fetch handler both raise: Fetch raises the handler''s exception',
        S + ' / ' + IntToStr(D.TokenRaises) + ' token event(s)');
      S := '';
      try
        Acc2.OnTokensChanged := nil;
        Acc2.ExportTokens;
        Acc2.AccessToken;
      except
        on E: Exception do S := E.ClassName + ': ' + E.Message;
      end;
      D.Ok(S = '', 'the next calls on that thread do not re-raise the token event''s stale exception', S);

      { a refresh token the provider refuses: its detail and the hint once each in the message }
      Acc3 := TOAuthMailAccount.Create(AccountJson);
      try
        Acc3.ImportTokens(ReplaceStr(Expired(Acc.ExportTokens), 'refresh_token', 'revoked-elsewhere'));
        Raised := False;
        try
          Acc3.AccessToken;
        except
          on E: EOAuthMail do
          begin
            Raised := E.Status = OM_STATUS_AUTHORIZATION_REQUIRED;
            D.Ok((E.Detail <> '') and (CountOf(E.Text, E.Detail) = 1) and (E.Hint <> '') and
              (CountOf(E.Text, E.Hint) = 1) and not Contains(E.Text, 'om_get_access_token'),
              'a refused refresh token: the provider''s detail and the hint once each, no C name', E.Text);
          end;
        end;
        D.Ok(Raised, 'a refused refresh token raises AUTHORIZATION_REQUIRED');
      finally
        FreeAndNil(Acc3);
      end;

      { cancel from another thread while this one waits }
      Acc2.Authorize(False);
      T := TCancelThread.Create(Acc2, 300);
      try
        Raised := False;
        try
          repeat until Acc2.WaitAuthorization(100) <> OM_STATUS_PENDING;
        except
          on E: EOAuthMail do
          begin
            Raised := E.Status = OM_STATUS_CANCELLED;
            // language fr: "L'autorisation a été annulée" (UTF-8 out, both properties)
            D.Ok(Contains(E.Text, 'a '#$00E9't'#$00E9' annul'#$00E9'e'), 'a French error message arrives intact in E.Text', E.Text);
{$IFDEF FPC}
            D.Ok(UTF8Decode(RawByteString(E.Message)) = E.Text, 'E.Message holds the same text as UTF-8 bytes (FPC)');
{$ELSE}
            D.Ok(E.Message = E.Text, 'E.Message = E.Text');
{$ENDIF}
          end;
        end;
        T.WaitFor;
        D.Ok(Raised and (T.FError = ''), 'CancelAuthorization from another thread: WaitAuthorization raises CANCELLED',
          T.FError);
      finally
        T.Free;
      end;
      Acc.Cancel;
      D.Ok(Acc.AccessToken <> '', 'Cancel affects only operations in progress');

      { several workstations on one mailbox: the host's token store }
      TokenStoreScenario;

      { the same unit with Microsoft Graph as the transport }
      GraphScenario(Subject + ' (Graph)');

      { a Google service account: no authorization, tokens from its key }
      ServiceAccountScenario(Subject + ' (service account)');

      { messages parsed, listed, flagged, moved; waiting for mail }
      BrowseScenario;

      Acc.OnTokensChanged := nil;
      TOAuthMail.LogWrite(OM_LOG_ERROR, 'log from Pascal: '#$00E9't'#$00E9);
      D.Ok(LogCount > 0, Format('log callback called %d times', [LogCount]));
      TOAuthMail.SetLogProc(OnLog, OM_LOG_INFO); // replaced: the previous sink is released
      D.Ok(TOAuthMail.LogSinksAlive = 1, 'replacing the log proc released the previous sink',
        IntToStr(TOAuthMail.LogSinksAlive));
      TOAuthMail.SetLogProc(nil);
      D.Ok(TOAuthMail.LogSinksAlive = 0, 'SetLogProc(nil): the library called the free function before returning',
        IntToStr(TOAuthMail.LogSinksAlive));
      I := LogCount;
      TOAuthMail.LogWrite(OM_LOG_ERROR, 'after removal');
      D.Ok(LogCount = I, 'a removed log proc is not called any more');
      { the log callback as a method (of object) }
      TOAuthMail.SetLogEvent(D.OnLogMethod, OM_LOG_INFO);
      D.Ok(TOAuthMail.LogSinksAlive = 1, 'SetLogEvent: one log sink held by the library');
      TOAuthMail.LogWrite(OM_LOG_ERROR, 'log to a method');
      Loops := 0;
      while (D.MethodLogs = 0) and (Loops < 300) do
      begin
        Sleep(10);
        Inc(Loops);
      end;
      D.Ok((D.MethodLogs = 1) and (D.LastMethodLog = 'log to a method') and (LogCount = I),
        'SetLogEvent: the method gets the line (and replaced nothing else)', IntToStr(D.MethodLogs));
      TOAuthMail.SetLogProc(OnLog, OM_LOG_INFO); // a procedure replaces the method
      D.Ok(TOAuthMail.LogSinksAlive = 1, 'SetLogProc after SetLogEvent: the method''s sink released');
      TOAuthMail.SetLogEvent(nil);
      D.Ok(TOAuthMail.LogSinksAlive = 0, 'SetLogEvent(nil) removes the log callback');
      Raised := False;
      try
        TOAuthMail.SetLogProc(OnLog, 7);
      except
        on E: EOAuthMail do Raised := E.Status = OM_STATUS_INVALID_ARGUMENT;
      end;
      D.Ok(Raised and (TOAuthMail.LogSinksAlive = 0), 'a refused level raises INVALID_ARGUMENT, nothing held');

      TOAuthMail.Shutdown;
      Raised := False;
      try
        Acc.Folders;
      except
        on E: EOAuthMail do Raised := E.Status = OM_STATUS_NOT_INITIALIZED;
      end;
      D.Ok(Raised, 'after Shutdown, network calls raise NOT_INITIALIZED');
    except
      on E: Exception do
        D.Ok(False, 'unexpected exception', StatusOf(E));
    end;
  finally
    Acc2.Free;
    Acc.Free;
    Writeln(Format('%d passed, %d failed', [D.Passed, D.Failed]));
    if (D.Failed > 0) or (D.Passed = 0) then ExitCode := 1;
    D.Free;
  end;
end.

{ objfpc_test.pp — OAuthMail.pas from a plain Free Pascal program (mode objfpc, $H+: string is
  AnsiString here), compiled by run_test.sh with the README's command line and run twice:

    objfpc_test missing   the library is not to be found: the program starts all the same
                          (the unit loads it on first use) and the first call raises
                          EOAuthMailLibrary naming the file, the bitness and the places searched
    objfpc_test           the library is found: a log method, OnTokensChanged and a token store
                          (OMString parameters) called by the library, a fetch event assigned,
                          EOAuthMail read, ImportTokens raising for stale tokens; no network

  Prints "ok - ..." / "not ok - ..." and "N passed, M failed"; exit code 1 on failure. }
program objfpc_test;

{$mode objfpc}{$H+}

uses
  {$IFDEF UNIX}cthreads, cwstring,{$ENDIF}
  SysUtils, OAuthMail;

type
  { An object's handlers, declared with the unit's OMString where the unit passes strings. }
  THost = class(TInterfacedObject, IOAuthMailTokenStore)
  public
    LogLines: Integer;
    LastLog: AnsiString;
    TokenEvents: Integer;
    LastTokens: AnsiString;
    Locks, Unlocks: Integer;
    procedure Log(Level: Integer; const Msg: OMString);
    procedure TokensChanged(Sender: TOAuthMailAccount; const TokensJson: OMString);
    procedure MessageArrived(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
    function TryLock(TimeoutMs: Cardinal; out StoredTokensJson: OMString): Boolean;
    procedure Unlock(const NewTokensJson: OMString);
  end;

var
  Passed: Integer = 0;
  Failed: Integer = 0;

procedure Ok(Cond: Boolean; const What: AnsiString; const Why: AnsiString = '');
begin
  if Cond then
  begin
    Inc(Passed);
    Writeln('ok - objfpc: ', What);
  end
  else
  begin
    Inc(Failed);
    if Why <> '' then Writeln('not ok - objfpc: ', What, ' (', Why, ')')
    else Writeln('not ok - objfpc: ', What);
  end;
end;

procedure THost.Log(Level: Integer; const Msg: OMString);
begin
  Inc(LogLines);
  LastLog := UTF8Encode(Msg);
end;

procedure THost.TokensChanged(Sender: TOAuthMailAccount; const TokensJson: OMString);
begin
  Inc(TokenEvents);
  LastTokens := UTF8Encode(TokensJson);
end;

procedure THost.MessageArrived(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
begin
  Action := faContinue;
end;

function THost.TryLock(TimeoutMs: Cardinal; out StoredTokensJson: OMString): Boolean;
begin
  Inc(Locks);
  StoredTokensJson := ''; // nothing stored: the account's own tokens are used
  Result := True;
end;

procedure THost.Unlock(const NewTokensJson: OMString);
begin
  Inc(Unlocks);
end;

const
  Config = '{"provider": "custom", "client_id": "objfpc-app", "authorize_url": "https://127.0.0.1:9/authorize",' +
    ' "token_url": "https://127.0.0.1:9/token", "scopes": "mail", "redirect_uri": "http://127.0.0.1/",' +
    ' "email": "objfpc@example.test", "language": "en"}';

function TokenSet(Version: Integer): AnsiString;
begin
  Result := '{"format": 1, "version": ' + IntToStr(Version) + ', "updated_at": 1767225600,' +
    ' "client_id": "objfpc-app", "token_url": "https://127.0.0.1:9/token",' +
    ' "access_token": "objfpc-access", "expires_at": 4102444800, "refresh_token": "objfpc-refresh"}';
end;

procedure Missing;
var
  Raised: Boolean;
  Dir: AnsiString;
begin
  Dir := ExtractFilePath(ParamStr(0));
  Ok(not TOAuthMail.LibraryLoaded, 'the program runs without the library (loaded on first use, not linked)');
  Raised := False;
  try
    TOAuthMail.Version;
  except
    on E: EOAuthMailLibrary do
    begin
      Raised := True;
      Ok(E.LibraryName = OAuthMailLib, 'EOAuthMailLibrary.LibraryName = ' + OAuthMailLib, UTF8Encode(E.LibraryName));
      Ok(E.Bits = SizeOf(Pointer) * 8, 'EOAuthMailLibrary.Bits is the program''s bitness', IntToStr(E.Bits));
      Ok((Pos(OAuthMailLib, E.Message) > 0) and (Pos(IntToStr(SizeOf(Pointer) * 8) + '-bit', E.Message) > 0),
        'the message names the file and the bitness', E.Message);
      Ok((Pos(Dir + OAuthMailLib, E.Message) > 0) and
        (Pos({$IFDEF MSWINDOWS}'Windows DLL search'{$ELSE}'LD_LIBRARY_PATH'{$ENDIF}, E.Message) > 0),
        'the message names the places searched: next to the program, then the loader''s search', E.Message);
      Ok(E.Reason <> '', 'the system''s error is kept (Reason)', UTF8Encode(E.Reason));
      Writeln('# ', E.Message);
    end;
    on E: Exception do
      Ok(False, 'EOAuthMailLibrary expected', E.ClassName + ': ' + E.Message);
  end;
  Ok(Raised, 'the first call raises EOAuthMailLibrary');
  Ok(not TOAuthMail.LibraryLoaded, 'nothing kept after the failure: a later call tries again');
end;

procedure Found;
var
  Host: THost;
  Store: IOAuthMailTokenStore;
  Acc: TOAuthMailAccount;
  Ev: TOAuthMailMessageEvent;
  Raised: Boolean;
  S: AnsiString;
begin
  Host := THost.Create;
  Store := Host; // counted reference: the account takes another one
  Ok(TOAuthMail.Version = OM_HEADER_VERSION_STRING, 'the library loaded on first use, version ' +
    OM_HEADER_VERSION_STRING);
  Ok(TOAuthMail.LibraryLoaded and (TOAuthMail.LibraryFileName <> ''), 'LibraryLoaded, LibraryFileName',
    UTF8Encode(TOAuthMail.LibraryFileName));

  { the log callback as a method }
  TOAuthMail.SetLogEvent(@Host.Log, OM_LOG_INFO);
  TOAuthMail.LogWrite(OM_LOG_ERROR, 'objfpc log');
  Ok((Host.LogLines > 0) and (Host.LastLog = 'objfpc log'), 'SetLogEvent: the method gets the log line',
    Host.LastLog);

  TOAuthMail.Init;
  Acc := TOAuthMailAccount.Create(Config);
  try
    Acc.OnTokensChanged := @Host.TokensChanged;
    Ev := @Host.MessageArrived; // a fetch event of this program's class (not called: no server)
    Ok(Assigned(Ev), 'a fetch event method assigned to TOAuthMailMessageEvent');

    Acc.ImportTokens(TokenSet(5));
    Ok(Pos('objfpc-access', Acc.ExportTokens) > 0, 'ImportTokens (AnsiString in)');
    Raised := False;
    try
      Acc.ImportTokens(TokenSet(4));
    except
      on E: EOAuthMail do
      begin
        Raised := E.Status = OM_STATUS_STALE_TOKENS;
        S := E.Message;
        Ok((S <> '') and (Pos('om_tokens_import', S) = 0), 'EOAuthMail.Message read from objfpc, no C name in it', S);
      end;
    end;
    Ok(Raised, 'ImportTokens of an older set raises EOAuthMail OM_STATUS_STALE_TOKENS');
    Ok(not Acc.TryImportTokens(TokenSet(3)), 'TryImportTokens of an older set: False');

    Acc.SetTokenStore(Store);
    Acc.RevokeTokens(5000); // no revocation endpoint: forgotten locally, under the store's lock
    Ok(Host.TokenEvents = 1, 'OnTokensChanged (a method with an OMString parameter) called by RevokeTokens',
      IntToStr(Host.TokenEvents));
    Ok(Pos('objfpc-access', Host.LastTokens) = 0, 'it got the empty set', Host.LastTokens);
    Ok((Host.Locks = 1) and (Host.Unlocks = 1), 'the token store (OMString methods) locked and unlocked',
      IntToStr(Host.Locks) + ' locks, ' + IntToStr(Host.Unlocks) + ' unlocks');
  finally
    Acc.Free;
  end;
  TOAuthMail.SetLogEvent(nil);
  Ok(TOAuthMail.LogSinksAlive = 0, 'SetLogEvent(nil): the method released');
  TOAuthMail.Shutdown;
  Store := nil;
end;

begin
  try
    if (ParamCount >= 1) and (ParamStr(1) = 'missing') then
      Missing
    else
      Found;
  except
    on E: Exception do
      Ok(False, 'unexpected exception', E.ClassName + ': ' + E.Message);
  end;
  Writeln(Format('%d passed, %d failed', [Passed, Failed]));
  if (Failed > 0) or (Passed = 0) then ExitCode := 1;
end.

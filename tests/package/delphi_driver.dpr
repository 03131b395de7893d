{ delphi_driver.dpr — runs the Delphi demo form's code (packaging/delphi/demo/DemoMain.pas,
  as shipped in the release zip) without a screen: compiled by tests/package/run_test.sh with
  Free Pascal against the stand-in VCL units of tests/package/vcl_stubs, which stream no .dfm,
  so the components are created here and the handlers called as the buttons would.

  Usage: delphi_driver WORKDIR  (liboauthmail.so next to the program)
  Scenarios, each a settings file written into WORKDIR:
    - no settings file: the error is shown in the memo, the button enabled again;
    - a bad configuration: "Error (OM_STATUS_INVALID_CONFIG): ..." naming the key;
    - no token yet: the sign-in is started (its URL shown), the wait ends after
      authorize_timeout_secs (1) with OM_STATUS_TIMEOUT shown, the form usable again;
    - the same, ended by the Cancel button (called from inside the wait, as a click would be):
      OM_STATUS_CANCELLED shown.
  Prints "ok - ..." / "not ok - ..." and "N passed, M failed"; exit status 1 when one failed. }
program delphi_driver;

{$APPTYPE CONSOLE}

uses
  {$IFDEF UNIX}cthreads, cwstring,{$ENDIF}
  SysUtils, Classes, Forms, StdCtrls, OAuthMail, DemoMain;

var
  Passed, Failed: Integer;
  Form: TDemoForm;
  Dir: string;

procedure Ok(Cond: Boolean; const What: string; const Why: string = '');
begin
  if Cond then
  begin
    Inc(Passed);
    Writeln('ok - ', What);
  end
  else
  begin
    Inc(Failed);
    if Why <> '' then
      Writeln('not ok - ', What, ' (', Why, ')')
    else
      Writeln('not ok - ', What);
  end;
end;

procedure WriteFile(const Name, Text: string);
var
  L: TStringList;
begin
  L := TStringList.Create;
  try
    L.Text := Text;
    L.SaveToFile(Name);
  finally
    L.Free;
  end;
end;

function Memo: string;
begin
  Result := Form.MemoLog.Lines.Text;
end;

function Fetch(const Settings: string): string;
begin
  Form.MemoLog.Lines.Clear;
  Form.EditSettings.Text := Settings;
  Form.ButtonFetchClick(Form.ButtonFetch);
  Result := Memo;
end;

type
  { Presses Cancel while the demo waits for the sign-in: the stand-in Application calls
    OnIdle from ProcessMessages, as a message loop would deliver the click. }
  TClicker = class
    Clicked: Boolean;
    procedure Idle(Sender: TObject);
  end;

procedure TClicker.Idle(Sender: TObject);
begin
  if not Clicked and Form.ButtonCancel.Enabled then
  begin
    Clicked := True;
    Form.ButtonCancelClick(Form.ButtonCancel);
  end;
end;

const
  SignIn = '{"provider": "gmail", "client_id": "demo.apps.googleusercontent.com", ' +
    '"email": "demo@example.test", "open_browser": false, "authorize_timeout_secs": 1}';

var
  S: string;
  CanClose: Boolean;
  Clicker: TClicker;
  T0: TDateTime;
begin
  Dir := IncludeTrailingPathDelimiter(ParamStr(1));
  Form := TDemoForm.Create(nil);
  Clicker := TClicker.Create;
  try
    Form.LabelSettings := TLabel.Create(Form);
    Form.EditSettings := TEdit.Create(Form);
    Form.ButtonFetch := TButton.Create(Form);
    Form.ButtonCancel := TButton.Create(Form);
    Form.MemoLog := TMemo.Create(Form);
    Form.ButtonFetch.Enabled := True;
    Form.FormCreate(Form);
    Ok(Form.EditSettings.Text = ExtractFilePath(ParamStr(0)) + 'settings.json',
      'FormCreate: settings.json next to the program by default', Form.EditSettings.Text);

    S := Fetch(Dir + 'missing.json');
    Ok(Pos('oauthmail ' + TOAuthMail.Version, S) = 1, 'the first Fetch loads the library and shows its version', S);
    Ok(Pos('missing.json', S) > 0, 'a missing settings file is shown in the memo', S);
    Ok(Form.ButtonFetch.Enabled, 'Fetch is enabled again');

    WriteFile(Dir + 'bad.json', '{"provider": "gmail", "client_id": "x", "timeout_secs": "soon"}');
    S := Fetch(Dir + 'bad.json');
    Ok((Pos('Error (OM_STATUS_INVALID_CONFIG): ', S) > 0) and (Pos('timeout_secs', S) > 0),
      'a bad configuration: OM_STATUS_INVALID_CONFIG naming the key', S);

    WriteFile(Dir + 'signin.json', SignIn);
    T0 := Now;
    S := Fetch(Dir + 'signin.json');
    Ok(Pos('Sign in with the browser', S) > 0, 'no token: the sign-in is started', S);
    Ok(Pos('https://accounts.google.com/', S) > 0, '  its address is shown', S);
    Ok(Pos('Error (OM_STATUS_TIMEOUT)', S) > 0, '  the wait ends with OM_STATUS_TIMEOUT after authorize_timeout_secs', S);
    Ok((Now - T0) * 86400 < 20, '  within seconds');
    Ok(Form.ButtonFetch.Enabled and not Form.ButtonCancel.Enabled, '  Fetch enabled again, Cancel disabled');
    CanClose := False;
    Form.FormCloseQuery(Form, CanClose);
    Ok(CanClose, '  the form may close');

    Application.OnIdle := Clicker.Idle;
    S := Fetch(Dir + 'signin.json');
    Application.OnIdle := nil;
    Ok(Clicker.Clicked, 'Cancel pressed during the sign-in wait');
    Ok(Pos('Error (OM_STATUS_CANCELLED)', S) > 0, '  the wait ends with OM_STATUS_CANCELLED', S);
    Ok(Form.ButtonFetch.Enabled and not Form.ButtonCancel.Enabled, '  Fetch enabled again, Cancel disabled');
  finally
    Form.FormDestroy(Form);
    Form.Free;
    Clicker.Free;
  end;
  Writeln(Passed, ' passed, ', Failed, ' failed');
  if Failed > 0 then
    Halt(1);
end.

{ DemoMain.pas — the oauthmail demo form: "Fetch" loads the settings JSON from a file,
  authorizes the account when it has no valid token yet (browser sign-in, the form staying
  alive meanwhile) and lists the new mail of the INBOX in the memo.

  The settings file is what an admin types in (see settings.example.json): with "token_file"
  and "state_file" the library keeps the tokens (DPAPI-protected) and what was fetched
  already, so the next "Fetch" asks for no sign-in and shows only mail that is new since. }
unit DemoMain;

interface

uses
  SysUtils, Classes, Controls, Forms, StdCtrls, OAuthMail;

type
  TDemoForm = class(TForm)
    LabelSettings: TLabel;
    EditSettings: TEdit;
    ButtonFetch: TButton;
    ButtonCancel: TButton;
    MemoLog: TMemo;
    procedure FormCreate(Sender: TObject);
    procedure FormDestroy(Sender: TObject);
    procedure FormCloseQuery(Sender: TObject; var CanClose: Boolean);
    procedure ButtonFetchClick(Sender: TObject);
    procedure ButtonCancelClick(Sender: TObject);
  private
    FInitialized: Boolean;       // TOAuthMail.Init done (Shutdown in FormDestroy)
    FAccount: TOAuthMailAccount; // the account of the Fetch in progress, else nil
    FCount: Integer;
    procedure Log(const Line: string);
    function LoadSettings(const FileName: string): string;
    procedure EnsureAuthorized(Acc: TOAuthMailAccount);
    procedure MessageArrived(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
      const Data: TBytes; var Action: TFetchAction);
  end;

var
  DemoForm: TDemoForm;

implementation

{$R *.dfm}

procedure TDemoForm.FormCreate(Sender: TObject);
begin
  { Relative paths in the settings ("token_file", "state_file") are taken from the current
    directory: make it the program's folder, where settings.json is looked for too. }
  SetCurrentDir(ExtractFilePath(ParamStr(0)));
  EditSettings.Text := ExtractFilePath(ParamStr(0)) + 'settings.json';
end;

procedure TDemoForm.FormDestroy(Sender: TObject);
begin
  if FInitialized then
    TOAuthMail.Shutdown;
end;

procedure TDemoForm.FormCloseQuery(Sender: TObject; var CanClose: Boolean);
begin
  { A Fetch is running (waiting for the sign-in): press Cancel first. }
  CanClose := FAccount = nil;
  if not CanClose then
    Log('Busy: press Cancel, then close.');
end;

procedure TDemoForm.Log(const Line: string);
begin
  MemoLog.Lines.Add(Line);
end;

function TDemoForm.LoadSettings(const FileName: string): string;
var
  Lines: TStringList;
begin
  Lines := TStringList.Create;
  try
    Lines.LoadFromFile(FileName, TEncoding.UTF8); // raises EFOpenError when missing
    Result := Lines.Text;
  finally
    Lines.Free;
  end;
end;

{ A valid access token, else the browser sign-in: Authorize returns at once, and
  WaitAuthorization(250) answers OM_STATUS_PENDING until the user is done (it raises
  EOAuthMail for a refusal, a timeout or Cancel). }
procedure TDemoForm.EnsureAuthorized(Acc: TOAuthMailAccount);
var
  Url: string;
  St: Integer;
begin
  try
    Acc.AccessToken;  // from the token file, refreshed when needed
    Exit;
  except
    on E: EOAuthMail do
      if E.Status <> OM_STATUS_AUTHORIZATION_REQUIRED then
        raise;
  end;
  Url := Acc.Authorize;  // opens the browser unless the settings say "open_browser": false
  Log('Sign in with the browser. If none opened, open this address:');
  Log('  ' + Url);
  ButtonCancel.Enabled := True;
  try
    repeat
      Application.ProcessMessages;  // the form stays alive; Cancel ends the wait
      St := Acc.WaitAuthorization(250);
    until St <> OM_STATUS_PENDING;
  finally
    ButtonCancel.Enabled := False;
  end;
  Log('Authorized.');
end;

{ Runs inside Fetch, on this (the UI) thread, once per new message. A real host stores Data
  (the raw RFC 5322 bytes) before answering faContinue: an accepted message is not delivered
  again. Raising here stops the fetch; Fetch raises the same exception. }
procedure TDemoForm.MessageArrived(Sender: TOAuthMailAccount; const Msg: TOAuthMailMessage;
  const Data: TBytes; var Action: TFetchAction);
var
  From, When: string;
begin
  Inc(FCount);
  From := '?';
  When := '';
  if Msg.HasParsed then
  begin
    if Length(Msg.Parsed.From) > 0 then
    begin
      From := Msg.Parsed.From[0].Address;
      if Msg.Parsed.From[0].Name <> '' then
        From := Msg.Parsed.From[0].Name + ' <' + From + '>';
    end;
    if Msg.Parsed.Date <> 0 then
      When := DateTimeToStr(Msg.Parsed.Date) + ' UTC  ';
    Log(Format('%s%s  %s  (%d bytes)', [When, From, Msg.Parsed.Subject, Length(Data)]));
  end
  else
    Log(Format('message %d (%d bytes)', [Msg.Uid, Length(Data)]));
  Action := faContinue;
end;

procedure TDemoForm.ButtonFetchClick(Sender: TObject);
var
  Acc: TOAuthMailAccount;
begin
  ButtonFetch.Enabled := False;
  try
    try
      if not FInitialized then
      begin
        TOAuthMail.Init;  // loads oauthmail.dll (next to the .exe) on this first call
        FInitialized := True;
        Log('oauthmail ' + TOAuthMail.Version + ' (' + TOAuthMail.LibraryFileName + ')');
      end;
      Acc := TOAuthMailAccount.Create(LoadSettings(EditSettings.Text));
      try
        FAccount := Acc;
        EnsureAuthorized(Acc);
        FCount := 0;
        Screen.Cursor := crHourGlass;
        try
          Acc.Fetch('{"folder": "INBOX", "parse": true}', MessageArrived);
        finally
          Screen.Cursor := crDefault;
        end;
        Log(Format('%d new message(s).', [FCount]));
      finally
        FAccount := nil;
        Acc.Free;
      end;
    except
      on E: EOAuthMail do
        { Message: what happened, the provider's text, then who must do what. }
        Log('Error (' + E.StatusName + '): ' + E.Message);
      on E: EOAuthMailLibrary do
        { oauthmail.dll missing or of the other bitness: the message names the places searched. }
        Log(E.Message);
      on E: Exception do
        Log(E.ClassName + ': ' + E.Message);
    end;
  finally
    ButtonFetch.Enabled := True;
  end;
end;

procedure TDemoForm.ButtonCancelClick(Sender: TObject);
begin
  if FAccount <> nil then
    FAccount.CancelAuthorization;  // WaitAuthorization then raises EOAuthMail (cancelled)
end;

end.

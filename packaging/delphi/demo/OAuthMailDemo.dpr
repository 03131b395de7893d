{ OAuthMailDemo.dpr — a VCL program using OAuthMail.pas: one form (DemoMain) with a "Fetch"
  button. Delphi 2009 or later, Win32 or Win64: put oauthmail.dll of the same bitness
  (..\Win32\ or ..\Win64\) next to the .exe. See ..\README.txt. }
program OAuthMailDemo;

uses
  Forms,
  OAuthMail in '..\OAuthMail.pas',
  DemoMain in 'DemoMain.pas' {DemoForm};

begin
  Application.Initialize;
  Application.MainFormOnTaskbar := True;
  Application.Title := 'oauthmail demo';
  Application.CreateForm(TDemoForm, DemoForm);
  Application.Run;
end.

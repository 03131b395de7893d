{ tests/windows/delphi_loader.dpr -- the Windows loading path of bindings/delphi/OAuthMail.pas
  (LoadLibraryExW, GetProcAddress, the EOAuthMailLibrary texts), in the situations a Windows
  host meets when it deploys oauthmail.dll. Run under Wine by tests/windows/delphi.sh, which
  lays out a directory per scenario (Free Pascal, Win64 and Win32):

    delphi_loader other-bitness       oauthmail.dll of the other bitness beside the .exe
    delphi_loader missing-import      oauthmail.dll beside, a DLL it imports missing
    delphi_loader explicit PATH FULL  TOAuthMail.LoadLibrary(PATH) (forward slashes, relative):
                                      loads; LibraryFileName = FULL
    delphi_loader kernel32            LoadLibrary('kernel32.dll'): a DLL without the om_*
                                      functions; then the one beside the .exe
    delphi_loader beside              oauthmail.dll beside the .exe, in a folder with a
                                      non-ASCII name (Société ü 日本)
    delphi_loader path FULL           oauthmail.dll found on PATH: LibraryFileName = FULL

  Prints "ok - loader: ..." / "not ok - loader: ..." (UTF-8) and "N passed, M failed". }
program delphi_loader;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$MODESWITCH UNICODESTRINGS}
  {$H+}
{$ENDIF}
{$APPTYPE CONSOLE}

uses
  SysUtils, Windows, OAuthMail;

const
  NonAsciiDir = 'Soci'#$00E9't'#$00E9' '#$00FC' '#$65E5#$672C; // Société ü 日本

var
  Passed: Integer = 0;
  Failed: Integer = 0;
  Bits: string;

procedure Ok(Cond: Boolean; const What: string; const Why: string = '');
begin
  if Cond then
  begin
    Inc(Passed);
    Writeln('ok - loader: ', What);
  end
  else
  begin
    Inc(Failed);
    if Why <> '' then Writeln('not ok - loader: ', What, ' (', Why, ')')
    else Writeln('not ok - loader: ', What);
  end;
end;

function Has(const S, Sub: string): Boolean;
begin
  Result := Pos(Sub, S) > 0;
end;

{ The .exe's folder, from the wide API (ParamStr is an AnsiString in Free Pascal 3.2). }
function ExeDir: string;
var
  Buf: array[0..4095] of WideChar;
  N: DWORD;
  W: UnicodeString;
begin
  N := GetModuleFileNameW(0, @Buf[0], Length(Buf));
  SetString(W, PWideChar(@Buf[0]), N);
  Result := ExtractFilePath(string(W));
end;

{ The first call that needs the library, expected to fail: its EOAuthMailLibrary (nil if none). }
function FirstUseFails(const What: string): EOAuthMailLibrary;
begin
  Result := nil;
  try
    TOAuthMail.Version;
    Ok(False, What + ': EOAuthMailLibrary expected', 'the library loaded: ' + TOAuthMail.LibraryFileName);
  except
    on E: EOAuthMailLibrary do
      Result := EOAuthMailLibrary(AcquireExceptionObject);
    on E: Exception do
      Ok(False, What + ': EOAuthMailLibrary expected', E.ClassName + ': ' + E.Message);
  end;
end;

procedure OtherBitness;
var
  E: EOAuthMailLibrary;
  Before: string;
begin
  E := FirstUseFails('the other bitness beside the .exe');
  if E = nil then Exit;
  Ok(E.Searched = ExeDir + OAuthMailLib,
    'the other bitness: Searched is the file beside the .exe (not another copy further on)', E.Searched);
  Ok(Has(E.Reason, 'is not a ' + Bits + '-bit DLL') and Has(E.Reason, '(Windows error 193)') and
    Has(E.Text, 'this ' + Bits + '-bit program'),
    'the other bitness: "is not a ' + Bits + '-bit DLL", Windows error 193, the program''s bitness', E.Text);
  Before := Trim(Copy(E.Reason, 1, Pos('(Windows error 193)', E.Reason) - 1));
  Ok((Before <> '') and (Before[Length(Before)] <> ':') and not Has(E.Reason, '%1'),
    'the other bitness: the system''s own text of error 193 is kept, its %1 filled (FormatMessageW, ignoring inserts)',
    E.Reason);
  Ok(not TOAuthMail.LibraryLoaded, 'the other bitness: nothing loaded');
  E.Free;
end;

procedure MissingImport;
var
  E: EOAuthMailLibrary;
begin
  E := FirstUseFails('a DLL that oauthmail.dll imports is missing');
  if E = nil then Exit;
  Ok(Has(E.Reason, ExeDir + OAuthMailLib + ' is there, but a DLL or a function it imports is missing') and
    Has(E.Reason, 'Windows 10') and (Has(E.Reason, '(Windows error 126)') or Has(E.Reason, '(Windows error 127)')),
    'an import missing: the message says the file is there, what is missing, and the Windows version needed',
    E.Reason);
  E.Free;
end;

procedure Explicit(const Path, Full: string);
begin
  try
    TOAuthMail.LoadLibrary(Path);
    Ok(TOAuthMail.LibraryLoaded and (TOAuthMail.LibraryFileName = Full) and
      (TOAuthMail.Version = OM_HEADER_VERSION_STRING),
      'LoadLibrary(''' + Path + '''): loaded with the DLL''s own folder for its imports; LibraryFileName is the full path',
      TOAuthMail.LibraryFileName);
  except
    on E: Exception do
      Ok(False, 'LoadLibrary(''' + Path + ''')', E.ClassName + ': ' + E.Message);
  end;
end;

procedure Kernel32;
var
  Raised: Boolean;
begin
  Raised := False;
  try
    TOAuthMail.LoadLibrary('kernel32.dll'); // a DLL, but not oauthmail
  except
    on E: EOAuthMailLibrary do
      Raised := Has(E.Text, 'kernel32.dll lacks om_account_new') and (E.Searched = 'kernel32.dll');
  end;
  Ok(Raised and not TOAuthMail.LibraryLoaded,
    'a DLL without the om_* functions (kernel32.dll): EOAuthMailLibrary naming what it lacks, nothing kept');
  try
    Ok((TOAuthMail.Version = OM_HEADER_VERSION_STRING) and (TOAuthMail.LibraryFileName = ExeDir + OAuthMailLib),
      'after that failure, the first use loads the DLL beside the .exe', TOAuthMail.LibraryFileName);
  except
    on E: Exception do Ok(False, 'after that failure, the first use loads the DLL beside the .exe', E.Message);
  end;
end;

procedure Beside;
begin
  try
    Ok((TOAuthMail.Version = OM_HEADER_VERSION_STRING) and
      (TOAuthMail.LibraryFileName = ExeDir + OAuthMailLib) and Has(TOAuthMail.LibraryFileName, NonAsciiDir),
      'oauthmail.dll beside the .exe in "' + NonAsciiDir + '": loaded from there (wide-character paths)',
      TOAuthMail.LibraryFileName);
  except
    on E: Exception do Ok(False, 'oauthmail.dll beside the .exe in "' + NonAsciiDir + '"', E.Message);
  end;
end;

procedure OnPath(const Full: string);
begin
  try
    Ok((TOAuthMail.Version = OM_HEADER_VERSION_STRING) and (TOAuthMail.LibraryFileName = Full),
      'not beside the .exe but on PATH: loaded, LibraryFileName names where Windows found it', TOAuthMail.LibraryFileName);
  except
    on E: Exception do Ok(False, 'oauthmail.dll on PATH', E.Message);
  end;
end;

var
  Mode: string;

begin
{$IFDEF FPC}
  SetMultiByteConversionCodePage(CP_UTF8);
  SetTextCodePage(Output, CP_UTF8);
{$ENDIF}
  Bits := IntToStr(SizeOf(Pointer) * 8);
  Mode := ParamStr(1);
  try
    Ok(not TOAuthMail.LibraryLoaded, Mode + ': the program started without the library');
    if Mode = 'other-bitness' then OtherBitness
    else if Mode = 'missing-import' then MissingImport
    else if Mode = 'explicit' then Explicit(ParamStr(2), ParamStr(3))
    else if Mode = 'kernel32' then Kernel32
    else if Mode = 'beside' then Beside
    else if Mode = 'path' then OnPath(ParamStr(2))
    else Ok(False, 'unknown scenario "' + Mode + '"');
  except
    on E: Exception do Ok(False, Mode + ': unexpected exception', E.ClassName + ': ' + E.Message);
  end;
  Writeln(Format('%d passed, %d failed', [Passed, Failed]));
  if (Failed > 0) or (Passed = 0) then ExitCode := 1;
end.

{ Stand-in for the VCL's Forms unit (see Controls.pas here). }
unit Forms;

{$MODE DELPHI}
{$MODESWITCH UNICODESTRINGS}

interface

uses
  Classes, Controls;

type
  TCloseQueryEvent = procedure(Sender: TObject; var CanClose: Boolean) of object;

  TForm = class(TWinControl)
  private
    FCaption: string;
    FOnCreate, FOnDestroy: TNotifyEvent;
    FOnCloseQuery: TCloseQueryEvent;
  public
    property Caption: string read FCaption write FCaption;
    property OnCreate: TNotifyEvent read FOnCreate write FOnCreate;
    property OnDestroy: TNotifyEvent read FOnDestroy write FOnDestroy;
    property OnCloseQuery: TCloseQueryEvent read FOnCloseQuery write FOnCloseQuery;
  end;

  TScreen = class(TComponent)
  private
    FCursor: TCursor;
  public
    property Cursor: TCursor read FCursor write FCursor;
  end;

  TApplication = class(TComponent)
  private
    FTitle: string;
    FMainFormOnTaskbar: Boolean;
    FOnIdle: TNotifyEvent;
  public
    procedure Initialize;
    procedure CreateForm(InstanceClass: TComponentClass; var Reference);
    procedure Run;
    procedure ProcessMessages;
    property Title: string read FTitle write FTitle;
    property MainFormOnTaskbar: Boolean read FMainFormOnTaskbar write FMainFormOnTaskbar;
    { Not the VCL's TIdleEvent: the test's hook, called by ProcessMessages (a click delivered
      by the message loop). }
    property OnIdle: TNotifyEvent read FOnIdle write FOnIdle;
  end;

var
  Application: TApplication;
  Screen: TScreen;

implementation

procedure TApplication.Initialize;
begin
end;

procedure TApplication.CreateForm(InstanceClass: TComponentClass; var Reference);
begin
  TComponent(Reference) := InstanceClass.Create(Self);
end;

procedure TApplication.Run;
begin
end;

procedure TApplication.ProcessMessages;
begin
  if Assigned(FOnIdle) then
    FOnIdle(Self);
end;

initialization
  Application := TApplication.Create(nil);
  Screen := TScreen.Create(nil);
finalization
  Screen.Free;
  Application.Free;
end.

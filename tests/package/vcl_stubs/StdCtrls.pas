{ Stand-in for the VCL's StdCtrls unit (see Controls.pas here). }
unit StdCtrls;

{$MODE DELPHI}
{$MODESWITCH UNICODESTRINGS}

interface

uses
  Classes, Controls;

type
  TLabel = class(TControl)
  private
    FCaption: string;
  public
    property Caption: string read FCaption write FCaption;
  end;

  TEdit = class(TWinControl)
  private
    FText: string;
  public
    property Text: string read FText write FText;
  end;

  TButton = class(TWinControl)
  private
    FCaption: string;
    FOnClick: TNotifyEvent;
  public
    property Caption: string read FCaption write FCaption;
    property OnClick: TNotifyEvent read FOnClick write FOnClick;
  end;

  TMemo = class(TWinControl)
  private
    FLines: TStrings;
  public
    constructor Create(AOwner: TComponent); override;
    destructor Destroy; override;
    property Lines: TStrings read FLines;
  end;

implementation

constructor TMemo.Create(AOwner: TComponent);
begin
  inherited Create(AOwner);
  FLines := TStringList.Create;
end;

destructor TMemo.Destroy;
begin
  FLines.Free;
  inherited Destroy;
end;

end.

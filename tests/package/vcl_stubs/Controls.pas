{ Stand-in for the VCL's Controls unit: only what packaging/delphi/demo uses, so that Free
  Pascal can compile the demo form's code (types, OAuthMail calls, event signatures) here.
  Used by tests/package/run_test.sh only; never shipped. }
unit Controls;

{$MODE DELPHI}

interface

uses
  Classes;

type
  TCursor = -32768..32767;

const
  crDefault = TCursor(0);
  crHourGlass = TCursor(-11);

type
  TControl = class(TComponent)
  private
    FEnabled: Boolean;
  public
    property Enabled: Boolean read FEnabled write FEnabled;
  end;

  TWinControl = class(TControl);

implementation

end.

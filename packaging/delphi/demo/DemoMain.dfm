object DemoForm: TDemoForm
  Left = 0
  Top = 0
  Caption = 'oauthmail demo'
  ClientHeight = 420
  ClientWidth = 640
  Color = clBtnFace
  Font.Charset = DEFAULT_CHARSET
  Font.Color = clWindowText
  Font.Height = -11
  Font.Name = 'Tahoma'
  Font.Style = []
  Position = poScreenCenter
  OnCloseQuery = FormCloseQuery
  OnCreate = FormCreate
  OnDestroy = FormDestroy
  PixelsPerInch = 96
  TextHeight = 13
  object LabelSettings: TLabel
    Left = 8
    Top = 12
    Width = 63
    Height = 13
    Caption = 'Settings file:'
  end
  object EditSettings: TEdit
    Left = 80
    Top = 8
    Width = 390
    Height = 21
    Anchors = [akLeft, akTop, akRight]
    TabOrder = 0
  end
  object ButtonFetch: TButton
    Left = 476
    Top = 6
    Width = 75
    Height = 25
    Anchors = [akTop, akRight]
    Caption = 'Fetch'
    Default = True
    TabOrder = 1
    OnClick = ButtonFetchClick
  end
  object ButtonCancel: TButton
    Left = 557
    Top = 6
    Width = 75
    Height = 25
    Anchors = [akTop, akRight]
    Caption = 'Cancel'
    Enabled = False
    TabOrder = 2
    OnClick = ButtonCancelClick
  end
  object MemoLog: TMemo
    Left = 8
    Top = 40
    Width = 624
    Height = 372
    Anchors = [akLeft, akTop, akRight, akBottom]
    ReadOnly = True
    ScrollBars = ssBoth
    TabOrder = 3
    WordWrap = False
  end
end

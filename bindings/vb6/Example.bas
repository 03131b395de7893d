Attribute VB_Name = "OAuthMailExample"
'==============================================================================================
' oauthmail - a worked example for VB6 and VBA (needs the module OAuthMail.bas).
'
' OAuthMailDemo:
'   1. loads oauthmail.dll (32-bit host: the 32-bit DLL; 64-bit Office: the 64-bit DLL)
'   2. om_init, then an Office 365 (or Gmail) account from its configuration JSON
'   3. authorizes in the browser if the account has no valid tokens yet: om_authorize_start,
'      then om_authorize_wait in steps of 100 ms with DoEvents, so the UI stays responsive and
'      a Cancel button can stop it (g_CancelAuthorization)
'   4. fetches the new mail of INBOX into a directory as .eml files (om_fetch_to_directory:
'      no callback, the simplest for VB hosts), then shows the subjects (om_message_parse)
'   5. sends a message (om_send), telling OM_STATUS_DELIVERY_UNKNOWN apart
'   6. om_account_free, om_shutdown
' Every failure goes through OmCheck, which raises a VB error carrying LastError(): what
' happened, the provider's or server's text, and who must do what.
'
' Fill in the Const values below. Azure (Office 365): the redirect URI http://localhost:3017/
' (the preset's) registered on a "Web" platform with a client secret, or on "Mobile and
' desktop applications" without one; delegated permissions IMAP.AccessAsUser.All, SMTP.Send,
' offline_access. Google: a "Desktop app" OAuth client (give its client_secret too).
' om_account_check lists the registration mistakes it can see before the user signs in.
'==============================================================================================
Option Explicit

Private Const DLL_PATH As String = ""   ' full path of oauthmail.dll, or "" for the DLL search
Private Const USE_GMAIL As Boolean = False
Private Const CLIENT_ID As String = "00000000-0000-0000-0000-000000000000"
Private Const CLIENT_SECRET As String = ""        ' Office 365 "Web" registration, or Gmail
Private Const TENANT As String = "contoso.onmicrosoft.com"
Private Const MAILBOX As String = "jean.dupont@contoso.com"
Private Const SEND_TO As String = "client@example.com"

' Set to True by a Cancel button while OAuthMailDemo waits for the authorization.
Public g_CancelAuthorization As Boolean
' True while OAuthMailDemo runs: DoEvents lets the user click again; refuse re-entry.
Private m_Busy As Boolean

Public Sub OAuthMailDemo()
#If VBA7 Then
    Dim acc As LongPtr
#Else
    Dim acc As Long
#End If
    Dim initialized As Boolean, folderPath As String, summary As String

    If m_Busy Then Exit Sub
    m_Busy = True
    On Error GoTo Failed

    If Len(DLL_PATH) > 0 Then
        If Not OmLoadLibrary(DLL_PATH) Then
            Err.Raise vbObjectError + 1, "OAuthMailDemo", "cannot load " & DLL_PATH & _
                " (Windows error " & Err.LastDllError & "; 193: a DLL of the other bitness)"
        End If
    End If
    ' MAJOR * 10000 + MINOR * 100 + PATCH: require the major.minor this module was written for
    If om_version_number() \ 100 <> OM_HEADER_VERSION_NUMBER \ 100 Then
        Err.Raise vbObjectError + 2, "OAuthMailDemo", "oauthmail.dll " & OmVersion() & _
            " does not match OAuthMail.bas " & OM_HEADER_VERSION_STRING
    End If

    OmCheck om_init(), "om_init"
    initialized = True

    acc = NewAccount(ConfigJson())
    Debug.Print "Account: "; AccountConfig(acc)
    Debug.Print "Registration check: "; AccountCheck(acc)   ' "[]": nothing found
    EnsureAuthorized acc

    folderPath = InboxDirectory()
    summary = FetchNewMail(acc, folderPath)
    Debug.Print "Fetched "; JsonValue(summary, "delivered"); " message(s) into "; folderPath; _
        ", "; JsonValue(summary, "remaining"); " remaining"
    ShowSubjects folderPath

    SendQuote acc, SEND_TO

Cleanup:
    On Error Resume Next
    If acc <> 0 Then om_account_free acc
    If initialized Then om_shutdown
    m_Busy = False
    Exit Sub
Failed:
    MsgBox Err.Description, vbExclamation, Err.Source
    Resume Cleanup
End Sub

' The account's configuration: the same keys as the admin's settings sheet (see README.md of
' the project). token_file and state_file keep the tokens (DPAPI-protected) and what was
' fetched already; several workstations may share them on a network share.
Private Function ConfigJson() As String
    Dim dataDir As String, json As String
    dataDir = AppDataDirectory()
    If USE_GMAIL Then
        json = "{""provider"": ""gmail"", ""client_id"": " & JsonQuote(CLIENT_ID) & _
               ", ""client_secret"": " & JsonQuote(CLIENT_SECRET)
    Else
        json = "{""provider"": ""office365"", ""client_id"": " & JsonQuote(CLIENT_ID) & _
               ", ""tenant"": " & JsonQuote(TENANT)
        If Len(CLIENT_SECRET) > 0 Then json = json & ", ""client_secret"": " & JsonQuote(CLIENT_SECRET)
    End If
    json = json & ", ""email"": " & JsonQuote(MAILBOX) & _
           ", ""token_file"": " & JsonQuote(dataDir & "\tokens.json") & _
           ", ""state_file"": " & JsonQuote(dataDir & "\fetch-state.json") & _
           ", ""timeout_secs"": 30, ""language"": ""fr""}"
    ConfigJson = json
End Function

#If VBA7 Then
Private Function NewAccount(ByVal json As String) As LongPtr
    Dim acc As LongPtr
#Else
Private Function NewAccount(ByVal json As String) As Long
    Dim acc As Long
#End If
    Dim cfg() As Byte
    cfg = Utf8Z(json)                     ' keep the bytes alive for the whole call
    OmCheck om_account_new(VarPtr(cfg(0)), acc), "om_account_new"   ' names a bad key
    NewAccount = acc
End Function

' The effective configuration, secrets masked: for a settings screen or a support ticket.
#If VBA7 Then
Private Function AccountConfig(ByVal acc As LongPtr) As String
    Dim p As LongPtr
#Else
Private Function AccountConfig(ByVal acc As Long) As String
    Dim p As Long
#End If
    OmCheck om_account_config_json(acc, p), "om_account_config_json"
    AccountConfig = TakeString(p)
End Function

' The known registration mistakes (Web registration without a secret, redirect port busy...),
' a JSON array of {"id", "severity", "who", "message"} in the account's language.
#If VBA7 Then
Private Function AccountCheck(ByVal acc As LongPtr) As String
    Dim p As LongPtr
#Else
Private Function AccountCheck(ByVal acc As Long) As String
    Dim p As Long
#End If
    OmCheck om_account_check(acc, p), "om_account_check"
    AccountCheck = TakeString(p)
End Function

' A valid access token means nothing to do; OM_STATUS_AUTHORIZATION_REQUIRED means the user
' must sign in (first use, or the provider refused the refresh token).
#If VBA7 Then
Private Sub EnsureAuthorized(ByVal acc As LongPtr)
    Dim token As LongPtr
#Else
Private Sub EnsureAuthorized(ByVal acc As Long)
    Dim token As Long
#End If
    Dim st As Long, expiresAt As Currency
    st = om_get_access_token(acc, 0, token, expiresAt)
    If st = OM_STATUS_OK Then
        TakeString token                  ' not needed here: free it
        Debug.Print "Token valid until "; UnixTimeToDate(Int64ToDouble(expiresAt)); " UTC"
        Exit Sub
    End If
    If st <> OM_STATUS_AUTHORIZATION_REQUIRED Then OmCheck st, "om_get_access_token"
    Debug.Print "Authorization needed: "; LastError()
    Authorize acc
End Sub

#If VBA7 Then
Private Sub Authorize(ByVal acc As LongPtr)
    Dim pInfo As LongPtr
#Else
Private Sub Authorize(ByVal acc As Long)
    Dim pInfo As Long
#End If
    Dim st As Long, info As String

    ' Opens the system browser and listens on the loopback redirect; returns at once.
    OmCheck om_authorize_start(acc, 0, pInfo), "om_authorize_start"
    info = TakeString(pInfo)
    If JsonValue(info, "browser_opened") <> "true" Then
        InputBox "The browser could not be opened. Open this address and sign in:", _
                 "Authorization", JsonValue(info, "authorization_url")
    End If

    ' Wait in short steps: om_authorize_wait blocks at most 100 ms, DoEvents repaints the UI
    ' and runs its events (a Cancel button setting g_CancelAuthorization). The authorization
    ' has its own deadline (authorize_timeout_secs, default 300 s: OM_STATUS_TIMEOUT).
    g_CancelAuthorization = False
    Do
        st = om_authorize_wait(acc, 100)
        If st <> OM_STATUS_PENDING Then Exit Do
        DoEvents
        If g_CancelAuthorization Then om_authorize_cancel acc   ' next wait: OM_STATUS_CANCELLED
    Loop
    ' OM_STATUS_ACCESS_DENIED: the user declined; OM_STATUS_PROVIDER_ERROR: the last error
    ' carries the provider's text (AADSTS...) and says who must fix what.
    OmCheck st, "om_authorize_wait"
    Debug.Print "Authorized."
End Sub

' New mail of INBOX as .eml files in folderPath (which must exist), named
' <folder>_<uidvalidity>_<uid>.eml (IMAP); written atomically, and the fetch state advances only
' after each file is in place. Blocks the thread: max_messages and timeout_ms bound the time
' (run it from a Timer to fetch in small batches). Returns the summary JSON.
#If VBA7 Then
Private Function FetchNewMail(ByVal acc As LongPtr, ByVal folderPath As String) As String
    Dim pSummary As LongPtr
#Else
Private Function FetchNewMail(ByVal acc As Long, ByVal folderPath As String) As String
    Dim pSummary As Long
#End If
    Dim opts() As Byte, dirBytes() As Byte
    opts = Utf8Z("{""folder"": ""INBOX"", ""max_messages"": 100, ""timeout_ms"": 120000}")
    dirBytes = Utf8Z(folderPath)
    OmCheck om_fetch_to_directory(acc, VarPtr(opts(0)), VarPtr(dirBytes(0)), pSummary), _
            "om_fetch_to_directory"
    FetchNewMail = TakeString(pSummary)
End Function

' The same with a callback (OnMessage of OAuthMail.bas writes each message itself).
#If VBA7 Then
Public Function FetchNewMailWithCallback(ByVal acc As LongPtr, ByVal folderPath As String) As String
    Dim pSummary As LongPtr
#Else
Public Function FetchNewMailWithCallback(ByVal acc As Long, ByVal folderPath As String) As String
    Dim pSummary As Long
#End If
    Dim opts() As Byte
    g_FetchDirectory = folderPath
    g_FetchCount = 0
    opts = Utf8Z("{""folder"": ""INBOX"", ""max_messages"": 100}")
    OmCheck om_fetch(acc, VarPtr(opts(0)), AddressOf OnMessage, 0, pSummary), "om_fetch"
    FetchNewMailWithCallback = TakeString(pSummary)
End Function

' Subject and sender of every .eml file in folderPath, through om_message_parse (no network).
Private Sub ShowSubjects(ByVal folderPath As String)
#If VBA7 Then
    Dim pJson As LongPtr
#Else
    Dim pJson As Long
#End If
    Dim fileName As String, b() As Byte, opts() As Byte, json As String
    opts = Utf8Z("{""text"": false, ""html"": false}")
    fileName = Dir$(folderPath & "\*.eml")
    Do While Len(fileName) > 0
        b = ReadFileBytes(folderPath & "\" & fileName)
        If ByteCount(b) > 0 Then
            OmCheck om_message_parse(VarPtr(b(0)), ByteCount(b), VarPtr(opts(0)), pJson), _
                    "om_message_parse"
            json = TakeString(pJson)
            Debug.Print fileName; ": "; JsonValue(json, "subject"); "  ("; JsonValue(json, "address"); ")"
            ' (the first "address" of the parsed JSON is the From address)
        End If
        fileName = Dir$
    Loop
End Sub

' Sends a quote. Non-ASCII text is fine (ChrW$ here only because this file must stay ASCII):
' everything goes to the library as UTF-8.
#If VBA7 Then
Private Sub SendQuote(ByVal acc As LongPtr, ByVal toAddress As String)
    Dim pResult As LongPtr
#Else
Private Sub SendQuote(ByVal acc As Long, ByVal toAddress As String)
    Dim pResult As Long
#End If
    Dim st As Long, json As String, msg() As Byte, opts() As Byte, result As String, e As String
    json = "{""to"": " & JsonQuote(toAddress) & _
           ", ""subject"": " & JsonQuote("Devis n" & ChrW$(&HB0) & " 2024-042") & _
           ", ""text"": " & JsonQuote("Bonjour," & vbCrLf & vbCrLf & _
                "Veuillez trouver notre devis : 1 250 " & ChrW$(&H20AC) & " HT." & vbCrLf & _
                vbCrLf & "Cordialement") & "}"
    ' attachments: , "attachments": [{"filename": "devis.pdf", "path": <JsonQuote(path)>}]
    msg = Utf8Z(json)
    opts = Utf8Z("{""save_to_sent"": true, ""timeout_ms"": 60000}")
    st = om_send(acc, VarPtr(msg(0)), VarPtr(opts(0)), pResult)
    If st = OM_STATUS_DELIVERY_UNKNOWN Then
        e = LastError()                   ' first: the next om_ call would clear it
        MsgBox "The connection was cut after the message was sent: it may have been " & _
               "delivered. Check the Sent folder or ask the recipient before sending it again." & _
               vbCrLf & vbCrLf & e, vbExclamation
        Exit Sub
    End If
    OmCheck st, "om_send"                 ' OM_STATUS_NETWORK_ERROR: not sent, safe to retry
    result = TakeString(pResult)
    Debug.Print "Sent: "; JsonValue(result, "message_id"); " saved to "; JsonValue(result, "saved_to")
End Sub

'--- files and directories ---------------------------------------------------------------------

Private Function AppDataDirectory() As String
    AppDataDirectory = EnsureDirectory(Environ$("LOCALAPPDATA") & "\OAuthMailExample")
End Function

Private Function InboxDirectory() As String
    InboxDirectory = EnsureDirectory(AppDataDirectory() & "\Inbox")
End Function

' Creates path (and its parents) if missing; returns it. (VB's MkDir and Dir$ take ANSI paths;
' the library itself takes any Unicode path in UTF-8.)
Private Function EnsureDirectory(ByVal path As String) As String
    Dim i As Long
    For i = 4 To Len(path) + 1
        If i > Len(path) Or Mid$(path, i, 1) = "\" Then
            If Len(Dir$(Left$(path, i - 1), vbDirectory)) = 0 Then MkDir Left$(path, i - 1)
        End If
    Next
    EnsureDirectory = path
End Function

Private Function ReadFileBytes(ByVal path As String) As Byte()
    Dim f As Integer, b() As Byte
    f = FreeFile
    Open path For Binary Access Read As #f
    If LOF(f) > 0 Then
        ReDim b(0 To LOF(f) - 1)
        Get #f, , b
    Else
        b = vbNullString
    End If
    Close #f
    ReadFileBytes = b
End Function

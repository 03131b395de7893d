Attribute VB_Name = "OAuthMail"
'==============================================================================================
' oauthmail for VB6 and VBA (Access, Excel, Word, Outlook; 32- and 64-bit Office)
'
' Declarations of the stdcall entry set of oauthmail.dll: every C function om_xxx documented in
' include/oauthmail.h is declared here under its C name, bound to its stdcall twin oms_xxx
' (Alias "oms_xxx"), so code reads like the C documentation. Never declare the om_ names
' themselves: they are cdecl and VB raises run-time error 49 "Bad DLL calling convention".
'
' Bitness: VB6 and 32-bit Office load the 32-bit oauthmail.dll, 64-bit Office the 64-bit one.
' The #If VBA7 branch (Office 2010 and later, 32 or 64 bit) uses PtrSafe and LongPtr; the #Else
' branch is VB6 and Office 2007 or older (Long). Keep this file ASCII with CRLF line ends.
'
' Type mapping (C -> VBA7 / VB6):
'   pointer, handle, size_t, const char *, callback -> ByVal LongPtr / ByVal Long
'   char **, om_account **, uint8_t **, size_t *     -> ByRef LongPtr / ByRef Long
'   int32_t, uint32_t, om_status                      -> ByVal Long (uint32 above 2^31-1 is < 0)
'   uint32_t *                                        -> ByRef Long
'   int64_t * (om_get_access_token's expiry)          -> ByRef Currency (see Int64ToDouble)
'   const char * results (om_version, om_last_error_*, om_status_*) -> LongPtr / Long:
'                                     static or thread-local, read with FromUtf8Ptr, never freed
'
' Strings are UTF-8 and NUL-terminated both ways:
'   in : Dim b() As Byte: b = Utf8Z(s): ... VarPtr(b(0)) ...   (pass 0 where NULL is allowed;
'        keep b in a variable until the call returns)
'   out: Dim p As LongPtr: st = om_xxx(..., p): s = TakeString(p)   (copies, then frees with
'        om_string_free; TakeString(0) returns "" and calls nothing). Free every string the
'        library returns, even one you do not need.
'
' Errors: a call returns OM_STATUS_OK (0) or a failure status; right after a failure read
' LastError() (or call OmCheck, which raises a VB error with it) BEFORE any other om_ call:
' every call, om_string_free included, clears the last error. LastError, LastErrorDetail,
' LastErrorHint, StatusName and OmCheck call only the om_last_error_* / om_status_* readers
' and kernel32, which leave it in place.
'
' Callbacks (AddressOf, a Public procedure of a standard module): see "Callbacks" below. They
' run on your thread, inside the om_ call you made - except the log callback: never install
' one from VB6/VBA.
'==============================================================================================
Option Explicit

'--- Constants of include/oauthmail.h -------------------------------------------------------
' OM_VERSION_STRING / OM_VERSION_NUMBER of the header are named OM_HEADER_VERSION_STRING /
' OM_HEADER_VERSION_NUMBER here: VB is case-insensitive and OM_VERSION_NUMBER would clash
' with the function om_version_number.
Public Const OM_HEADER_VERSION_STRING As String = "0.1.0"
Public Const OM_HEADER_VERSION_NUMBER As Long = 100

' Results of the message callback (om_fetch, om_messages_fetch)
Public Const OM_FETCH_CONTINUE As Long = 0      ' accepted: the fetch state advances past it
Public Const OM_FETCH_STOP As Long = 1          ' stop; this message is not accepted
Public Const OM_FETCH_ERROR As Long = 2         ' failed: the fetch ends with OM_STATUS_CANCELLED

' Log levels
Public Const OM_LOG_ERROR As Long = 0
Public Const OM_LOG_WARN As Long = 1
Public Const OM_LOG_INFO As Long = 2
Public Const OM_LOG_DEBUG As Long = 3

' Results of the token store callbacks (om_account_set_token_store)
Public Const OM_TOKEN_STORE_OK As Long = 0
Public Const OM_TOKEN_STORE_BUSY As Long = 1
Public Const OM_TOKEN_STORE_FAILED As Long = 2

' Statuses (om_status); the header documents each
Public Const OM_STATUS_OK As Long = 0
Public Const OM_STATUS_INVALID_ARGUMENT As Long = 1
Public Const OM_STATUS_INVALID_CONFIG As Long = 2
Public Const OM_STATUS_INVALID_HANDLE As Long = 3
Public Const OM_STATUS_NOT_INITIALIZED As Long = 4
Public Const OM_STATUS_PENDING As Long = 5
Public Const OM_STATUS_TIMEOUT As Long = 6
Public Const OM_STATUS_CANCELLED As Long = 7
Public Const OM_STATUS_AUTHORIZATION_REQUIRED As Long = 8
Public Const OM_STATUS_ACCESS_DENIED As Long = 9
Public Const OM_STATUS_PROVIDER_ERROR As Long = 10
Public Const OM_STATUS_NETWORK_ERROR As Long = 11
Public Const OM_STATUS_TLS_ERROR As Long = 12
Public Const OM_STATUS_PORT_IN_USE As Long = 13
Public Const OM_STATUS_STATE_MISMATCH As Long = 14
Public Const OM_STATUS_WRONG_STATE As Long = 15
Public Const OM_STATUS_REENTRANT_CALL As Long = 16
Public Const OM_STATUS_IO_ERROR As Long = 17
Public Const OM_STATUS_STALE_TOKENS As Long = 18
Public Const OM_STATUS_UNSUPPORTED As Long = 19
Public Const OM_STATUS_PROTOCOL_ERROR As Long = 20
Public Const OM_STATUS_LOGIN_REJECTED As Long = 21
Public Const OM_STATUS_TOKENS_LOCKED As Long = 22
Public Const OM_STATUS_DELIVERY_UNKNOWN As Long = 23
Public Const OM_STATUS_PANIC As Long = 99

' OmCheck raises Err.Number = OAUTHMAIL_ERR_BASE + status
Public Const OAUTHMAIL_ERR_BASE As Long = vbObjectError + &H1000

Private Const CP_UTF8 As Long = 65001

'--- om_message, as the message callback receives it ----------------------------------------
' C layout (natural alignment, 4 bytes of padding after resync on every platform):
'                    32-bit offset   64-bit offset
'   uid               0               0        uint32 -> Long (UInt32ToDouble if > 2^31-1)
'   uidvalidity       4               4        uint32 -> Long
'   resync            8               8        uint32 -> Long (1: may be delivered again)
'   (padding)        12              12        4 bytes -> Long, declared explicitly
'   size             16              16        uint64 -> Currency: the 8 raw bytes; VB6 has no
'   internal_date    24              24        int64  -> Currency   64-bit integer, so read them
'                                                       with UInt64ToDouble / Int64ToDouble (a
'                                                       Currency holds value / 10000)
'   folder           32              32        const char * -> LongPtr (FromUtf8Ptr)
'   flags            36              40        const char *
'   uidl             40              48        const char *
'   parsed_json      44              56        const char * (0 unless "parse": true)
'   size of record   48              64
' The explicit padding member puts every field at its C offset whatever the VB alignment rule
' (VB6 / 32-bit VBA align members to 4 bytes at most, 64-bit VBA to 8). Copy the record with
' ReadMessage; the strings it points to are valid only during the callback.
#If VBA7 Then
Public Type om_message
    uid As Long
    uidvalidity As Long
    resync As Long
    padding As Long
    size As Currency
    internal_date As Currency
    folder As LongPtr
    flags As LongPtr
    uidl As LongPtr
    parsed_json As LongPtr
End Type
#Else
Public Type om_message
    uid As Long
    uidvalidity As Long
    resync As Long
    padding As Long
    size As Currency
    internal_date As Currency
    folder As Long
    flags As Long
    uidl As Long
    parsed_json As Long
End Type
#End If

' For reading the 8 raw bytes of a Currency as two Longs (LSet between records)
Private Type TRaw64
    c As Currency
End Type
Private Type TRaw64Parts
    lo As Long
    hi As Long
End Type

'--- State of the example callbacks (module-level variables must precede every procedure) ---
Public g_FetchDirectory As String   ' where OnMessage writes .eml files: set it before om_fetch
Public g_FetchCount As Long         ' messages OnMessage wrote
Public g_TokensJson As String       ' the last set OnTokensChanged received
Public g_StoredTokensJson As String ' stands for your database row in OnTokensLock/Unlock
Private g_LockedTokens() As Byte    ' the set OnTokensLock hands out, valid until unlock

'--- The stdcall entry set of oauthmail.dll ---------------------------------------------------
' One Declare per function of include/oauthmail.h, in the header's order. Parameter names are
' the header's, except lock/unlock -> lock_cb/unlock_cb, name -> folder_name, len -> length
' (VB keywords or functions).
#If VBA7 Then
Public Declare PtrSafe Function om_account_new Lib "oauthmail.dll" Alias "oms_account_new" ( _
        ByVal config_json As LongPtr, _
        ByRef out_account As LongPtr) As Long
Public Declare PtrSafe Function om_account_free Lib "oauthmail.dll" Alias "oms_account_free" ( _
        ByVal account As LongPtr) As Long
Public Declare PtrSafe Function om_account_config_json Lib "oauthmail.dll" Alias "oms_account_config_json" ( _
        ByVal account As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_account_check Lib "oauthmail.dll" Alias "oms_account_check" ( _
        ByVal account As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_account_cancel Lib "oauthmail.dll" Alias "oms_account_cancel" ( _
        ByVal account As LongPtr) As Long
Public Declare PtrSafe Function om_account_set_token_callback Lib "oauthmail.dll" Alias "oms_account_set_token_callback" ( _
        ByVal account As LongPtr, _
        ByVal callback As LongPtr, _
        ByVal user_data As LongPtr, _
        ByVal free_user_data As LongPtr) As Long
Public Declare PtrSafe Function om_authorize_start Lib "oauthmail.dll" Alias "oms_authorize_start" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_authorize_wait Lib "oauthmail.dll" Alias "oms_authorize_wait" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long) As Long
Public Declare PtrSafe Function om_authorize_complete Lib "oauthmail.dll" Alias "oms_authorize_complete" ( _
        ByVal account As LongPtr, _
        ByVal redirect_url As LongPtr, _
        ByVal timeout_ms As Long) As Long
Public Declare PtrSafe Function om_authorize_cancel Lib "oauthmail.dll" Alias "oms_authorize_cancel" ( _
        ByVal account As LongPtr) As Long
Public Declare PtrSafe Function om_device_start Lib "oauthmail.dll" Alias "oms_device_start" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_messages_list Lib "oauthmail.dll" Alias "oms_messages_list" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_messages_fetch Lib "oauthmail.dll" Alias "oms_messages_fetch" ( _
        ByVal account As LongPtr, _
        ByVal selection_json As LongPtr, _
        ByVal callback As LongPtr, _
        ByVal user_data As LongPtr, _
        ByRef out_count As Long) As Long
Public Declare PtrSafe Function om_messages_set_flags Lib "oauthmail.dll" Alias "oms_messages_set_flags" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr) As Long
Public Declare PtrSafe Function om_messages_move Lib "oauthmail.dll" Alias "oms_messages_move" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr) As Long
Public Declare PtrSafe Function om_messages_copy Lib "oauthmail.dll" Alias "oms_messages_copy" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr) As Long
Public Declare PtrSafe Function om_messages_delete Lib "oauthmail.dll" Alias "oms_messages_delete" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr) As Long
Public Declare PtrSafe Function om_folder_create Lib "oauthmail.dll" Alias "oms_folder_create" ( _
        ByVal account As LongPtr, _
        ByVal folder_name As LongPtr, _
        ByVal timeout_ms As Long) As Long
Public Declare PtrSafe Function om_wait_for_mail Lib "oauthmail.dll" Alias "oms_wait_for_mail" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr, _
        ByVal timeout_ms As Long, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_fetch Lib "oauthmail.dll" Alias "oms_fetch" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr, _
        ByVal callback As LongPtr, _
        ByVal user_data As LongPtr, _
        ByRef out_summary_json As LongPtr) As Long
Public Declare PtrSafe Function om_folders_list Lib "oauthmail.dll" Alias "oms_folders_list" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_sync_state_export Lib "oauthmail.dll" Alias "oms_sync_state_export" ( _
        ByVal account As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_sync_state_import Lib "oauthmail.dll" Alias "oms_sync_state_import" ( _
        ByVal account As LongPtr, _
        ByVal state_json As LongPtr) As Long
Public Declare PtrSafe Function om_fetch_to_directory Lib "oauthmail.dll" Alias "oms_fetch_to_directory" ( _
        ByVal account As LongPtr, _
        ByVal options_json As LongPtr, _
        ByVal directory As LongPtr, _
        ByRef out_summary_json As LongPtr) As Long
Public Declare PtrSafe Function om_servers_check Lib "oauthmail.dll" Alias "oms_servers_check" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_last_error_message Lib "oauthmail.dll" Alias "oms_last_error_message" () As LongPtr
Public Declare PtrSafe Function om_last_error_detail Lib "oauthmail.dll" Alias "oms_last_error_detail" () As LongPtr
Public Declare PtrSafe Function om_last_error_hint Lib "oauthmail.dll" Alias "oms_last_error_hint" () As LongPtr
Public Declare PtrSafe Function om_last_error_status Lib "oauthmail.dll" Alias "oms_last_error_status" () As Long
Public Declare PtrSafe Function om_init Lib "oauthmail.dll" Alias "oms_init" () As Long
Public Declare PtrSafe Function om_shutdown Lib "oauthmail.dll" Alias "oms_shutdown" () As Long
Public Declare PtrSafe Function om_version Lib "oauthmail.dll" Alias "oms_version" () As LongPtr
Public Declare PtrSafe Function om_version_number Lib "oauthmail.dll" Alias "oms_version_number" () As Long
Public Declare PtrSafe Sub om_string_free Lib "oauthmail.dll" Alias "oms_string_free" (ByVal s As LongPtr)
Public Declare PtrSafe Function om_log_set_callback Lib "oauthmail.dll" Alias "oms_log_set_callback" ( _
        ByVal callback As LongPtr, _
        ByVal max_level As Long, _
        ByVal user_data As LongPtr, _
        ByVal free_user_data As LongPtr) As Long
Public Declare PtrSafe Function om_log_write Lib "oauthmail.dll" Alias "oms_log_write" ( _
        ByVal level As Long, _
        ByVal message As LongPtr) As Long
Public Declare PtrSafe Function om_message_parse Lib "oauthmail.dll" Alias "oms_message_parse" ( _
        ByVal data As LongPtr, _
        ByVal length As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_message_attachment Lib "oauthmail.dll" Alias "oms_message_attachment" ( _
        ByVal data As LongPtr, _
        ByVal length As LongPtr, _
        ByVal index As Long, _
        ByRef out_data As LongPtr, _
        ByRef out_len As LongPtr) As Long
Public Declare PtrSafe Sub om_buffer_free Lib "oauthmail.dll" Alias "oms_buffer_free" (ByVal data As LongPtr)
Public Declare PtrSafe Function om_message_save_attachments Lib "oauthmail.dll" Alias "oms_message_save_attachments" ( _
        ByVal data As LongPtr, _
        ByVal length As LongPtr, _
        ByVal directory As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_send Lib "oauthmail.dll" Alias "oms_send" ( _
        ByVal account As LongPtr, _
        ByVal message_json As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_result_json As LongPtr) As Long
Public Declare PtrSafe Function om_send_raw Lib "oauthmail.dll" Alias "oms_send_raw" ( _
        ByVal account As LongPtr, _
        ByVal data As LongPtr, _
        ByVal length As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_result_json As LongPtr) As Long
Public Declare PtrSafe Function om_send_batch Lib "oauthmail.dll" Alias "oms_send_batch" ( _
        ByVal account As LongPtr, _
        ByVal messages_json As LongPtr, _
        ByVal options_json As LongPtr, _
        ByRef out_results_json As LongPtr) As Long
Public Declare PtrSafe Function om_status_name Lib "oauthmail.dll" Alias "oms_status_name" ( _
        ByVal status As Long) As LongPtr
Public Declare PtrSafe Function om_status_description Lib "oauthmail.dll" Alias "oms_status_description" ( _
        ByVal status As Long) As LongPtr
Public Declare PtrSafe Function om_account_set_token_store Lib "oauthmail.dll" Alias "oms_account_set_token_store" ( _
        ByVal account As LongPtr, _
        ByVal lock_cb As LongPtr, _
        ByVal unlock_cb As LongPtr, _
        ByVal user_data As LongPtr, _
        ByVal free_user_data As LongPtr) As Long
Public Declare PtrSafe Function om_get_access_token Lib "oauthmail.dll" Alias "oms_get_access_token" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long, _
        ByRef out_token As LongPtr, _
        ByRef out_expires_at As Currency) As Long
Public Declare PtrSafe Function om_tokens_export Lib "oauthmail.dll" Alias "oms_tokens_export" ( _
        ByVal account As LongPtr, _
        ByRef out_json As LongPtr) As Long
Public Declare PtrSafe Function om_tokens_import Lib "oauthmail.dll" Alias "oms_tokens_import" ( _
        ByVal account As LongPtr, _
        ByVal tokens_json As LongPtr) As Long
Public Declare PtrSafe Function om_tokens_revoke Lib "oauthmail.dll" Alias "oms_tokens_revoke" ( _
        ByVal account As LongPtr, _
        ByVal timeout_ms As Long) As Long
#Else
Public Declare Function om_account_new Lib "oauthmail.dll" Alias "oms_account_new" ( _
        ByVal config_json As Long, _
        ByRef out_account As Long) As Long
Public Declare Function om_account_free Lib "oauthmail.dll" Alias "oms_account_free" (ByVal account As Long) As Long
Public Declare Function om_account_config_json Lib "oauthmail.dll" Alias "oms_account_config_json" ( _
        ByVal account As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_account_check Lib "oauthmail.dll" Alias "oms_account_check" ( _
        ByVal account As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_account_cancel Lib "oauthmail.dll" Alias "oms_account_cancel" ( _
        ByVal account As Long) As Long
Public Declare Function om_account_set_token_callback Lib "oauthmail.dll" Alias "oms_account_set_token_callback" ( _
        ByVal account As Long, _
        ByVal callback As Long, _
        ByVal user_data As Long, _
        ByVal free_user_data As Long) As Long
Public Declare Function om_authorize_start Lib "oauthmail.dll" Alias "oms_authorize_start" ( _
        ByVal account As Long, _
        ByVal options_json As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_authorize_wait Lib "oauthmail.dll" Alias "oms_authorize_wait" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long) As Long
Public Declare Function om_authorize_complete Lib "oauthmail.dll" Alias "oms_authorize_complete" ( _
        ByVal account As Long, _
        ByVal redirect_url As Long, _
        ByVal timeout_ms As Long) As Long
Public Declare Function om_authorize_cancel Lib "oauthmail.dll" Alias "oms_authorize_cancel" ( _
        ByVal account As Long) As Long
Public Declare Function om_device_start Lib "oauthmail.dll" Alias "oms_device_start" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_messages_list Lib "oauthmail.dll" Alias "oms_messages_list" ( _
        ByVal account As Long, _
        ByVal options_json As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_messages_fetch Lib "oauthmail.dll" Alias "oms_messages_fetch" ( _
        ByVal account As Long, _
        ByVal selection_json As Long, _
        ByVal callback As Long, _
        ByVal user_data As Long, _
        ByRef out_count As Long) As Long
Public Declare Function om_messages_set_flags Lib "oauthmail.dll" Alias "oms_messages_set_flags" ( _
        ByVal account As Long, _
        ByVal options_json As Long) As Long
Public Declare Function om_messages_move Lib "oauthmail.dll" Alias "oms_messages_move" ( _
        ByVal account As Long, _
        ByVal options_json As Long) As Long
Public Declare Function om_messages_copy Lib "oauthmail.dll" Alias "oms_messages_copy" ( _
        ByVal account As Long, _
        ByVal options_json As Long) As Long
Public Declare Function om_messages_delete Lib "oauthmail.dll" Alias "oms_messages_delete" ( _
        ByVal account As Long, _
        ByVal options_json As Long) As Long
Public Declare Function om_folder_create Lib "oauthmail.dll" Alias "oms_folder_create" ( _
        ByVal account As Long, _
        ByVal folder_name As Long, _
        ByVal timeout_ms As Long) As Long
Public Declare Function om_wait_for_mail Lib "oauthmail.dll" Alias "oms_wait_for_mail" ( _
        ByVal account As Long, _
        ByVal options_json As Long, _
        ByVal timeout_ms As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_fetch Lib "oauthmail.dll" Alias "oms_fetch" ( _
        ByVal account As Long, _
        ByVal options_json As Long, _
        ByVal callback As Long, _
        ByVal user_data As Long, _
        ByRef out_summary_json As Long) As Long
Public Declare Function om_folders_list Lib "oauthmail.dll" Alias "oms_folders_list" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_sync_state_export Lib "oauthmail.dll" Alias "oms_sync_state_export" ( _
        ByVal account As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_sync_state_import Lib "oauthmail.dll" Alias "oms_sync_state_import" ( _
        ByVal account As Long, _
        ByVal state_json As Long) As Long
Public Declare Function om_fetch_to_directory Lib "oauthmail.dll" Alias "oms_fetch_to_directory" ( _
        ByVal account As Long, _
        ByVal options_json As Long, _
        ByVal directory As Long, _
        ByRef out_summary_json As Long) As Long
Public Declare Function om_servers_check Lib "oauthmail.dll" Alias "oms_servers_check" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_last_error_message Lib "oauthmail.dll" Alias "oms_last_error_message" () As Long
Public Declare Function om_last_error_detail Lib "oauthmail.dll" Alias "oms_last_error_detail" () As Long
Public Declare Function om_last_error_hint Lib "oauthmail.dll" Alias "oms_last_error_hint" () As Long
Public Declare Function om_last_error_status Lib "oauthmail.dll" Alias "oms_last_error_status" () As Long
Public Declare Function om_init Lib "oauthmail.dll" Alias "oms_init" () As Long
Public Declare Function om_shutdown Lib "oauthmail.dll" Alias "oms_shutdown" () As Long
Public Declare Function om_version Lib "oauthmail.dll" Alias "oms_version" () As Long
Public Declare Function om_version_number Lib "oauthmail.dll" Alias "oms_version_number" () As Long
Public Declare Sub om_string_free Lib "oauthmail.dll" Alias "oms_string_free" (ByVal s As Long)
Public Declare Function om_log_set_callback Lib "oauthmail.dll" Alias "oms_log_set_callback" ( _
        ByVal callback As Long, _
        ByVal max_level As Long, _
        ByVal user_data As Long, _
        ByVal free_user_data As Long) As Long
Public Declare Function om_log_write Lib "oauthmail.dll" Alias "oms_log_write" ( _
        ByVal level As Long, _
        ByVal message As Long) As Long
Public Declare Function om_message_parse Lib "oauthmail.dll" Alias "oms_message_parse" ( _
        ByVal data As Long, _
        ByVal length As Long, _
        ByVal options_json As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_message_attachment Lib "oauthmail.dll" Alias "oms_message_attachment" ( _
        ByVal data As Long, _
        ByVal length As Long, _
        ByVal index As Long, _
        ByRef out_data As Long, _
        ByRef out_len As Long) As Long
Public Declare Sub om_buffer_free Lib "oauthmail.dll" Alias "oms_buffer_free" (ByVal data As Long)
Public Declare Function om_message_save_attachments Lib "oauthmail.dll" Alias "oms_message_save_attachments" ( _
        ByVal data As Long, _
        ByVal length As Long, _
        ByVal directory As Long, _
        ByVal options_json As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_send Lib "oauthmail.dll" Alias "oms_send" ( _
        ByVal account As Long, _
        ByVal message_json As Long, _
        ByVal options_json As Long, _
        ByRef out_result_json As Long) As Long
Public Declare Function om_send_raw Lib "oauthmail.dll" Alias "oms_send_raw" ( _
        ByVal account As Long, _
        ByVal data As Long, _
        ByVal length As Long, _
        ByVal options_json As Long, _
        ByRef out_result_json As Long) As Long
Public Declare Function om_send_batch Lib "oauthmail.dll" Alias "oms_send_batch" ( _
        ByVal account As Long, _
        ByVal messages_json As Long, _
        ByVal options_json As Long, _
        ByRef out_results_json As Long) As Long
Public Declare Function om_status_name Lib "oauthmail.dll" Alias "oms_status_name" (ByVal status As Long) As Long
Public Declare Function om_status_description Lib "oauthmail.dll" Alias "oms_status_description" ( _
        ByVal status As Long) As Long
Public Declare Function om_account_set_token_store Lib "oauthmail.dll" Alias "oms_account_set_token_store" ( _
        ByVal account As Long, _
        ByVal lock_cb As Long, _
        ByVal unlock_cb As Long, _
        ByVal user_data As Long, _
        ByVal free_user_data As Long) As Long
Public Declare Function om_get_access_token Lib "oauthmail.dll" Alias "oms_get_access_token" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long, _
        ByRef out_token As Long, _
        ByRef out_expires_at As Currency) As Long
Public Declare Function om_tokens_export Lib "oauthmail.dll" Alias "oms_tokens_export" ( _
        ByVal account As Long, _
        ByRef out_json As Long) As Long
Public Declare Function om_tokens_import Lib "oauthmail.dll" Alias "oms_tokens_import" ( _
        ByVal account As Long, _
        ByVal tokens_json As Long) As Long
Public Declare Function om_tokens_revoke Lib "oauthmail.dll" Alias "oms_tokens_revoke" ( _
        ByVal account As Long, _
        ByVal timeout_ms As Long) As Long
#End If

'--- kernel32, for the helpers below ----------------------------------------------------------
#If VBA7 Then
Private Declare PtrSafe Function lstrlenA Lib "kernel32" (ByVal lpString As LongPtr) As Long
Private Declare PtrSafe Function MultiByteToWideChar Lib "kernel32" ( _
        ByVal CodePage As Long, ByVal dwFlags As Long, ByVal lpMultiByteStr As LongPtr, _
        ByVal cbMultiByte As Long, ByVal lpWideCharStr As LongPtr, ByVal cchWideChar As Long) As Long
Private Declare PtrSafe Function WideCharToMultiByte Lib "kernel32" ( _
        ByVal CodePage As Long, ByVal dwFlags As Long, ByVal lpWideCharStr As LongPtr, _
        ByVal cchWideChar As Long, ByVal lpMultiByteStr As LongPtr, ByVal cbMultiByte As Long, _
        ByVal lpDefaultChar As LongPtr, ByVal lpUsedDefaultChar As LongPtr) As Long
Private Declare PtrSafe Sub CopyMemory Lib "kernel32" Alias "RtlMoveMemory" ( _
        ByRef Destination As Any, ByRef Source As Any, ByVal Length As LongPtr)
Private Declare PtrSafe Function LoadLibraryW Lib "kernel32" (ByVal lpLibFileName As LongPtr) As LongPtr
#Else
Private Declare Function lstrlenA Lib "kernel32" (ByVal lpString As Long) As Long
Private Declare Function MultiByteToWideChar Lib "kernel32" ( _
        ByVal CodePage As Long, ByVal dwFlags As Long, ByVal lpMultiByteStr As Long, _
        ByVal cbMultiByte As Long, ByVal lpWideCharStr As Long, ByVal cchWideChar As Long) As Long
Private Declare Function WideCharToMultiByte Lib "kernel32" ( _
        ByVal CodePage As Long, ByVal dwFlags As Long, ByVal lpWideCharStr As Long, _
        ByVal cchWideChar As Long, ByVal lpMultiByteStr As Long, ByVal cbMultiByte As Long, _
        ByVal lpDefaultChar As Long, ByVal lpUsedDefaultChar As Long) As Long
Private Declare Sub CopyMemory Lib "kernel32" Alias "RtlMoveMemory" ( _
        ByRef Destination As Any, ByRef Source As Any, ByVal Length As Long)
Private Declare Function LoadLibraryW Lib "kernel32" (ByVal lpLibFileName As Long) As Long
#End If

'==============================================================================================
' Loading the DLL
'==============================================================================================

' Loads oauthmail.dll from a full path before the first om_ call, so that every Declare
' (Lib "oauthmail.dll") binds to it: Windows reuses a loaded module of that name. Needed when
' the DLL is not next to the host's .exe (VBA: the .exe is Office's) nor on the PATH.
' False when it cannot be loaded: Err.LastDllError says why (126: not found; 193: a DLL of the
' other bitness - 64-bit Office needs the 64-bit DLL, VB6 and 32-bit Office the 32-bit one).
Public Function OmLoadLibrary(ByVal dllPath As String) As Boolean
    OmLoadLibrary = (LoadLibraryW(StrPtr(dllPath)) <> 0)
End Function

'==============================================================================================
' UTF-8 strings
'==============================================================================================

' s as UTF-8 followed by one NUL byte, for a const char * parameter: keep the array in a
' variable and pass VarPtr(b(0)) (or declare the parameter ByRef As Byte and pass b(0)).
Public Function Utf8Z(ByVal s As String) As Byte()
    Dim b() As Byte, n As Long
    If Len(s) > 0 Then n = WideCharToMultiByte(CP_UTF8, 0, StrPtr(s), Len(s), 0, 0, 0, 0)
    ReDim b(0 To n)                       ' n bytes of UTF-8, then b(n) = 0
    If n > 0 Then WideCharToMultiByte CP_UTF8, 0, StrPtr(s), Len(s), VarPtr(b(0)), n, 0, 0
    Utf8Z = b
End Function

' The NUL-terminated UTF-8 string at p as a VB string ("" for 0). Does not free it: use it for
' the const char * results (om_version, om_last_error_*, om_status_name...) and for strings a
' callback receives; use TakeString for the char ** out-parameters.
#If VBA7 Then
Public Function FromUtf8Ptr(ByVal p As LongPtr) As String
#Else
Public Function FromUtf8Ptr(ByVal p As Long) As String
#End If
    Dim n As Long, m As Long, s As String
    If p = 0 Then Exit Function
    n = lstrlenA(p)
    If n = 0 Then Exit Function
    m = MultiByteToWideChar(CP_UTF8, 0, p, n, 0, 0)
    If m = 0 Then Exit Function
    s = String$(m, vbNullChar)
    MultiByteToWideChar CP_UTF8, 0, p, n, StrPtr(s), m
    FromUtf8Ptr = s
End Function

' UTF-8 bytes (e.g. a .json file written by om_fetch_to_directory) as a VB string.
Public Function FromUtf8Bytes(ByRef b() As Byte) As String
    Dim n As Long, m As Long, s As String
    n = ByteCount(b)
    If n = 0 Then Exit Function
    m = MultiByteToWideChar(CP_UTF8, 0, VarPtr(b(LBound(b))), n, 0, 0)
    If m = 0 Then Exit Function
    s = String$(m, vbNullChar)
    MultiByteToWideChar CP_UTF8, 0, VarPtr(b(LBound(b))), n, StrPtr(s), m
    FromUtf8Bytes = s
End Function

' A string the library returned through a char ** out-parameter: copied, then freed with
' om_string_free. TakeString(0) returns "" without calling the library (so, after a failed
' call, it does not clear the last error - but read LastError first anyway).
#If VBA7 Then
Public Function TakeString(ByVal p As LongPtr) As String
#Else
Public Function TakeString(ByVal p As Long) As String
#End If
    If p = 0 Then Exit Function
    TakeString = FromUtf8Ptr(p)
    om_string_free p
End Function

' n bytes at p copied into a Byte array (a zero-length array, UBound -1, when n is 0): the raw
' message of the message callback, the result of om_message_attachment (then om_buffer_free).
#If VBA7 Then
Public Function BytesFromPtr(ByVal p As LongPtr, ByVal n As LongPtr) As Byte()
#Else
Public Function BytesFromPtr(ByVal p As Long, ByVal n As Long) As Byte()
#End If
    Dim b() As Byte
    If p = 0 Or n <= 0 Then
        b = vbNullString                  ' zero-length array
    Else
        ReDim b(0 To CLng(n) - 1)
        CopyMemory b(0), ByVal p, n
    End If
    BytesFromPtr = b
End Function

' Number of bytes of a Byte array (0 for an empty or unallocated one): the len argument to pass
' with VarPtr(b(0)) to om_message_parse, om_send_raw...
Public Function ByteCount(ByRef b() As Byte) As Long
    On Error Resume Next
    ByteCount = UBound(b) - LBound(b) + 1
    If Err.Number <> 0 Then ByteCount = 0
    On Error GoTo 0
    If ByteCount < 0 Then ByteCount = 0
End Function

'==============================================================================================
' Errors
'==============================================================================================

' The last error of this thread, whole (om_last_error_message): what happened, the provider's
' or server's own text in brackets, then a dash and the hint saying who must do what; "" after
' a successful call. Read it right after the failed call: the next om_ call clears it.
Public Function LastError() As String
    LastError = FromUtf8Ptr(om_last_error_message())
End Function

' The provider's or server's own text alone (om_last_error_detail), e.g. "invalid_grant: ...".
Public Function LastErrorDetail() As String
    LastErrorDetail = FromUtf8Ptr(om_last_error_detail())
End Function

' The hint alone (om_last_error_hint): who must do what, in the account's language.
Public Function LastErrorHint() As String
    LastErrorHint = FromUtf8Ptr(om_last_error_hint())
End Function

' "OM_STATUS_TIMEOUT" for 6, "OM_STATUS_UNKNOWN" for other values.
Public Function StatusName(ByVal st As Long) As String
    StatusName = FromUtf8Ptr(om_status_name(st))
End Function

' A one-line English description of a status.
Public Function StatusDescription(ByVal st As Long) As String
    StatusDescription = FromUtf8Ptr(om_status_description(st))
End Function

' The DLL's version, e.g. "0.1.0".
Public Function OmVersion() As String
    OmVersion = FromUtf8Ptr(om_version())
End Function

' Raises a VB error when st is not OM_STATUS_OK: Number = OAUTHMAIL_ERR_BASE + st, Source =
' "oauthmail." & what, Description = the last error (read at once, before anything clears it).
'     OmCheck om_account_new(VarPtr(cfg(0)), acc), "om_account_new"
' Handle statuses you expect (OM_STATUS_PENDING, OM_STATUS_DELIVERY_UNKNOWN...) before it.
Public Sub OmCheck(ByVal st As Long, ByVal what As String)
    Dim msg As String
    If st = OM_STATUS_OK Then Exit Sub
    msg = LastError()
    If Len(msg) = 0 Then msg = StatusName(st) & ": " & StatusDescription(st)
    Err.Raise OAUTHMAIL_ERR_BASE + st, "oauthmail." & what, msg
End Sub

'==============================================================================================
' om_message and 64-bit integers
'==============================================================================================

' Copies the om_message the callback received (its msg argument) into m.
#If VBA7 Then
Public Sub ReadMessage(ByVal p As LongPtr, ByRef m As om_message)
#Else
Public Sub ReadMessage(ByVal p As Long, ByRef m As om_message)
#End If
    CopyMemory m, ByVal p, LenB(m)
End Sub

' A uint32 held in a Long (negative above 2^31-1) as a Double.
Public Function UInt32ToDouble(ByVal v As Long) As Double
    If v < 0 Then
        UInt32ToDouble = CDbl(v) + 4294967296#
    Else
        UInt32ToDouble = v
    End If
End Function

' The uint64 whose 8 raw bytes a Currency holds (om_message.size) as a Double (exact up to
' 2^53). Do not use the Currency's own value: it is the integer divided by 10000.
Public Function UInt64ToDouble(ByVal c As Currency) As Double
    Dim r As TRaw64, p As TRaw64Parts
    r.c = c
    LSet p = r
    UInt64ToDouble = UInt32ToDouble(p.hi) * 4294967296# + UInt32ToDouble(p.lo)
End Function

' The int64 whose 8 raw bytes a Currency holds (om_message.internal_date, the expiry of
' om_get_access_token) as a Double.
Public Function Int64ToDouble(ByVal c As Currency) As Double
    Dim r As TRaw64, p As TRaw64Parts
    r.c = c
    LSet p = r
    Int64ToDouble = CDbl(p.hi) * 4294967296# + UInt32ToDouble(p.lo)
End Function

' Unix seconds (UTC) as a Date (UTC; 0 stays 1970-01-01).
Public Function UnixTimeToDate(ByVal secs As Double) As Date
    UnixTimeToDate = DateSerial(1970, 1, 1) + secs / 86400#
End Function

'==============================================================================================
' Minimal JSON helpers (the library speaks JSON; these cover building the small objects it
' takes and reading top-level values of the flat objects it returns - use a real JSON parser
' for arrays and nested objects)
'==============================================================================================

' s as a JSON string literal, quotes included: JsonQuote("C:\Mail") = "C:\\Mail" in quotes.
Public Function JsonQuote(ByVal s As String) As String
    Dim i As Long, ch As String, code As Long, out As String
    out = """"
    For i = 1 To Len(s)
        ch = Mid$(s, i, 1)
        code = AscW(ch) And &HFFFF&
        Select Case code
            Case 34: out = out & "\"""
            Case 92: out = out & "\\"
            Case 8: out = out & "\b"
            Case 9: out = out & "\t"
            Case 10: out = out & "\n"
            Case 12: out = out & "\f"
            Case 13: out = out & "\r"
            Case Is < 32: out = out & "\u" & Right$("000" & Hex$(code), 4)
            Case Else: out = out & ch
        End Select
    Next
    JsonQuote = out & """"
End Function

' The value of the first "key" in json: a string decoded, a number / true / false / null as
' written; "" when the key is missing.
Public Function JsonValue(ByVal json As String, ByVal key As String) As String
    Dim i As Long, j As Long, ch As String, out As String
    i = InStr(1, json, """" & key & """", vbBinaryCompare)
    If i = 0 Then Exit Function
    i = i + Len(key) + 2
    Do While i <= Len(json)                 ' skip blanks and the colon
        ch = Mid$(json, i, 1)
        If ch <> " " And ch <> ":" And ch <> vbTab And ch <> vbCr And ch <> vbLf Then Exit Do
        i = i + 1
    Loop
    If Mid$(json, i, 1) <> """" Then         ' number, true, false, null
        j = i
        Do While j <= Len(json)
            ch = Mid$(json, j, 1)
            If ch = "," Or ch = "}" Or ch = "]" Or ch = " " Or ch = vbCr Or ch = vbLf Then Exit Do
            j = j + 1
        Loop
        JsonValue = Mid$(json, i, j - i)
        Exit Function
    End If
    i = i + 1
    Do While i <= Len(json)
        ch = Mid$(json, i, 1)
        If ch = """" Then Exit Do
        If ch = "\" Then
            i = i + 1
            ch = Mid$(json, i, 1)
            Select Case ch
                Case "n": out = out & vbLf
                Case "r": out = out & vbCr
                Case "t": out = out & vbTab
                Case "b": out = out & Chr$(8)
                Case "f": out = out & Chr$(12)
                Case "u"
                    out = out & ChrW$(CLng("&H" & Mid$(json, i + 1, 4)))
                    i = i + 4
                Case Else: out = out & ch   ' \" \\ \/
            End Select
        Else
            out = out & ch
        End If
        i = i + 1
    Loop
    JsonValue = out
End Function

'==============================================================================================
' Callbacks
'
' Rules for every callback given to an om_ function (they are stdcall, which is what AddressOf
' gives; the declarations above bind to the oms_ entries, which call them so):
' - A Public Function (or Sub for a void callback) of a STANDARD module (.bas), never of a
'   form or class; pass it as AddressOf Name directly in the om_ call.
' - Exactly the parameter types below: pointers and size_t are LongPtr (VB6: Long), int32 and
'   uint32 are Long, all ByVal except out-pointers; an int32 result is a Long.
' - Trap every error (On Error ...): a VB error must never leave a callback; return
'   OM_FETCH_ERROR / OM_TOKEN_STORE_FAILED instead. Do not stop in the debugger inside one,
'   and never press End/Reset while one is running.
' - They run on your thread, inside the om_ call (om_fetch, om_messages_fetch,
'   om_authorize_wait, om_get_access_token...). Calling functions of the same account from
'   inside returns OM_STATUS_REENTRANT_CALL - also from event handlers DoEvents would run.
' - Pointers received (msg, data, strings) are valid only during the callback: copy them.
' - VBA: after editing code or a reset, AddressOf addresses and handles kept in variables are
'   stale: set callbacks again on a new account.
' - user_data: pass 0 and keep your state in module variables; free_user_data: pass 0.
'
' THE LOG CALLBACK IS THE EXCEPTION: om_log_set_callback's callback "may be called from any
' thread, library threads included" (the threads doing the HTTP and mail I/O), and with any
' max_level - errors are logged there too. VB6 and VBA code running on a thread the VB runtime
' did not create crashes the host. So do not call om_log_set_callback with a VB procedure,
' at any level. om_log_write does not help either: it only feeds that same log. For
' diagnostics use LastError (the provider's text and a hint), om_account_check,
' om_servers_check (a report per server), or run "omcli --verbose check CONFIG.json" (the
' library's debug log) with the same configuration.
'==============================================================================================

' Example message callback for om_fetch / om_messages_fetch (om_message_cb):
'   int32_t (*)(void *user_data, const om_message *message, const uint8_t *data, size_t len)
'     st = om_fetch(acc, VarPtr(opts(0)), AddressOf OnMessage, 0, pSummary)
' Writes the raw message to g_FetchDirectory and accepts it (OM_FETCH_CONTINUE): an accepted
' message is not delivered again, so accept only once it is stored.
#If VBA7 Then
Public Function OnMessage(ByVal userData As LongPtr, ByVal msg As LongPtr, _
                          ByVal data As LongPtr, ByVal length As LongPtr) As Long
#Else
Public Function OnMessage(ByVal userData As Long, ByVal msg As Long, _
                          ByVal data As Long, ByVal length As Long) As Long
#End If
    Dim m As om_message, b() As Byte, path As String, f As Integer
    On Error GoTo Failed
    ReadMessage msg, m
    b = BytesFromPtr(data, length)
    g_FetchCount = g_FetchCount + 1
    If m.uid <> 0 Then                     ' IMAP: (uidvalidity, uid) names the message for good
        path = g_FetchDirectory & "\" & Format$(UInt32ToDouble(m.uidvalidity), "0") & "_" & _
               Format$(UInt32ToDouble(m.uid), "0") & ".eml"
    Else                                   ' POP3 / Graph / Gmail API: FromUtf8Ptr(m.uidl) is the id
        path = g_FetchDirectory & "\msg_" & Format$(Now, "yyyymmdd_hhnnss") & "_" & _
               CStr(g_FetchCount) & ".eml"
    End If
    If Len(Dir$(path)) > 0 Then Kill path  ' delivered again (m.resync = 1): replace
    f = FreeFile
    Open path For Binary Access Write As #f
    If ByteCount(b) > 0 Then Put #f, , b
    Close #f
    f = 0
    ' Also at hand: FromUtf8Ptr(m.folder), FromUtf8Ptr(m.flags), UInt64ToDouble(m.size),
    ' UnixTimeToDate(Int64ToDouble(m.internal_date)), FromUtf8Ptr(m.parsed_json).
    OnMessage = OM_FETCH_CONTINUE
    Exit Function
Failed:
    Resume Abandon                         ' leaves the error state, then cleans up
Abandon:
    On Error Resume Next
    If f <> 0 Then Close #f
    OnMessage = OM_FETCH_ERROR             ' not accepted: it comes again next time
End Function

' Example token callback (om_token_cb: void (*)(void *user_data, const char *tokens_json)):
'     OmCheck om_account_set_token_callback(acc, AddressOf OnTokensChanged, 0, 0), "..."
' Runs inside the call that changed the tokens. Store the JSON (it holds secrets) and give it
' back later with om_tokens_import. Not needed with token_file, nor with a token store.
#If VBA7 Then
Public Sub OnTokensChanged(ByVal userData As LongPtr, ByVal tokensJson As LongPtr)
#Else
Public Sub OnTokensChanged(ByVal userData As Long, ByVal tokensJson As Long)
#End If
    On Error Resume Next
    g_TokensJson = FromUtf8Ptr(tokensJson)  ' e.g. UPDATE mailbox SET tokens = ... WHERE ...
End Sub

' Example token store (om_account_set_token_store), for several workstations sharing one
' mailbox through your database:
'     OmCheck om_account_set_token_store(acc, AddressOf OnTokensLock, _
'             AddressOf OnTokensUnlock, 0, 0), "om_account_set_token_store"
' om_tokens_lock_cb: int32_t (*)(void *user_data, uint32_t timeout_ms, const char **out)
' The string given through outTokensJson must stay valid until the unlock callback: it lives in
' the module-level array g_LockedTokens (declared at the top).
#If VBA7 Then
Public Function OnTokensLock(ByVal userData As LongPtr, ByVal timeoutMs As Long, _
                             ByRef outTokensJson As LongPtr) As Long
#Else
Public Function OnTokensLock(ByVal userData As Long, ByVal timeoutMs As Long, _
                             ByRef outTokensJson As Long) As Long
#End If
    On Error GoTo Failed
    ' 1. take your lock, waiting at most timeoutMs (BEGIN TRAN; SELECT ... WITH (UPDLOCK) or
    '    SELECT ... FOR UPDATE); not taken in time: OnTokensLock = OM_TOKEN_STORE_BUSY
    ' 2. give the stored set, or leave outTokensJson = 0 when nothing is stored yet
    outTokensJson = 0
    If Len(g_StoredTokensJson) > 0 Then
        g_LockedTokens = Utf8Z(g_StoredTokensJson)
        outTokensJson = VarPtr(g_LockedTokens(0))
    End If
    OnTokensLock = OM_TOKEN_STORE_OK
    Exit Function
Failed:
    OnTokensLock = OM_TOKEN_STORE_FAILED   ' the unlock callback is then not called
End Function

' om_tokens_unlock_cb: int32_t (*)(void *user_data, const char *tokens_json)
#If VBA7 Then
Public Function OnTokensUnlock(ByVal userData As LongPtr, ByVal tokensJson As LongPtr) As Long
#Else
Public Function OnTokensUnlock(ByVal userData As Long, ByVal tokensJson As Long) As Long
#End If
    On Error GoTo Failed
    If tokensJson <> 0 Then g_StoredTokensJson = FromUtf8Ptr(tokensJson)   ' UPDATE ... (newer set)
    ' release the lock (COMMIT)
    OnTokensUnlock = OM_TOKEN_STORE_OK
    Exit Function
Failed:
    ' release the lock anyway (ROLLBACK)
    OnTokensUnlock = OM_TOKEN_STORE_FAILED
End Function

' What a log callback (om_log_cb: void (*)(void *user_data, int32_t level, const char *message))
' looks like - DO NOT INSTALL IT from VB6/VBA (see "THE LOG CALLBACK IS THE EXCEPTION" above):
' it would be called on library threads and crash the host. Kept only to show the signature
' for hosts that can run code on any thread.
#If VBA7 Then
Public Sub OnLog(ByVal userData As LongPtr, ByVal level As Long, ByVal message As LongPtr)
#Else
Public Sub OnLog(ByVal userData As Long, ByVal level As Long, ByVal message As Long)
#End If
    On Error Resume Next
    Debug.Print "oauthmail [" & level & "] " & FromUtf8Ptr(message)
End Sub

/*
 * wine_crypt32_fix.c -- TESTS UNDER WINE ONLY, NEVER SHIPPED. Linked into the test programs
 * (harness.exe, omcli.exe) by scripts/test-windows.sh; oauthmail.dll itself is unchanged.
 *
 * rustls-platform-verifier (the DLL's TLS trust: Windows certificate store + the account's extra
 * CA certificates) creates its chain engine with the Windows 8+ CERT_CHAIN_ENGINE_CONFIG, which
 * ends with dwExclusiveFlags. Real Windows 8/10/11 accept that size. Wine 8's crypt32 accepts
 * only the two older sizes and fails with E_INVALIDARG ("Invalid parameter. (os error
 * -2147024809)"), so every TLS connection would fail under Wine before any certificate is looked
 * at.
 *
 * At start-up (a constructor, after oauthmail.dll is loaded) this patches oauthmail.dll's import
 * address table entry for crypt32!CertCreateCertificateChainEngine with a wrapper that passes the
 * Windows 7 size when dwExclusiveFlags is 0 (what the verifier sets): the same engine, with
 * hExclusiveRoot = the extra CA certificates, which Wine does support.
 *
 * Second difference: the verifier asks CertGetCertificateChain for an end-certificate revocation
 * check and then tells CertVerifyCertificateChainPolicy to ignore an UNKNOWN revocation status
 * (CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS); Windows honours that for the sandbox's
 * certificates (no CRL, no OCSP), Wine 8 still answers CERT_E_REVOCATION_FAILURE (0x800B010E).
 * The wrapper of CertGetCertificateChain drops the revocation-check flags, so Wine checks no
 * revocation at all. Chain building (to the extra CA) and validity checks stay Wine's.
 *
 * Third: Wine 8's SSL policy matches the server name against DNS names only, so a certificate
 * for the IP address 127.0.0.1 (subjectAltName iPAddress, as Windows matches it) gets
 * CERT_E_CN_NO_MATCH. The wrapper of CertVerifyCertificateChainPolicy then checks the end
 * certificate's iPAddress entries itself and clears that one error only when one equals the
 * server name's address.
 */
#define _WIN32_WINNT 0x0602
#define NTDDI_VERSION 0x06020000
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <wincrypt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef BOOL(WINAPI *create_engine_fn)(PCERT_CHAIN_ENGINE_CONFIG, HCERTCHAINENGINE *);
static create_engine_fn g_real_create_engine;

static BOOL WINAPI create_engine_win7_size(PCERT_CHAIN_ENGINE_CONFIG config, HCERTCHAINENGINE *engine)
{
    const DWORD win7 = (DWORD)offsetof(CERT_CHAIN_ENGINE_CONFIG, dwExclusiveFlags);
    if (config && config->cbSize >= sizeof(CERT_CHAIN_ENGINE_CONFIG) && config->dwExclusiveFlags == 0) {
        CERT_CHAIN_ENGINE_CONFIG copy = *config;
        copy.cbSize = win7;
        return g_real_create_engine(&copy, engine);
    }
    return g_real_create_engine(config, engine);
}

typedef BOOL(WINAPI *get_chain_fn)(HCERTCHAINENGINE, PCCERT_CONTEXT, LPFILETIME, HCERTSTORE,
                                   PCERT_CHAIN_PARA, DWORD, LPVOID, PCCERT_CHAIN_CONTEXT *);
static get_chain_fn g_real_get_chain;

static BOOL WINAPI get_chain_no_revocation(HCERTCHAINENGINE engine, PCCERT_CONTEXT cert, LPFILETIME time,
                                           HCERTSTORE store, PCERT_CHAIN_PARA para, DWORD flags,
                                           LPVOID reserved, PCCERT_CHAIN_CONTEXT *chain)
{
    flags &= ~(DWORD)(CERT_CHAIN_REVOCATION_CHECK_END_CERT | CERT_CHAIN_REVOCATION_CHECK_CHAIN |
                      CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT |
                      CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY);
    return g_real_get_chain(engine, cert, time, store, para, flags, reserved, chain);
}

typedef BOOL(WINAPI *verify_policy_fn)(LPCSTR, PCCERT_CHAIN_CONTEXT, PCERT_CHAIN_POLICY_PARA,
                                       PCERT_CHAIN_POLICY_STATUS);
static verify_policy_fn g_real_verify_policy;

/* 1 when `name` is an IP literal equal to an iPAddress subjectAltName of `cert` */
static int ip_san_matches(PCCERT_CONTEXT cert, const WCHAR *name)
{
    unsigned char ip[16];
    DWORD ip_len = 0;
    if (InetPtonW(AF_INET, name, ip) == 1)
        ip_len = 4;
    else if (InetPtonW(AF_INET6, name, ip) == 1)
        ip_len = 16;
    if (!ip_len)
        return 0;
    PCERT_EXTENSION ext = CertFindExtension(szOID_SUBJECT_ALT_NAME2, cert->pCertInfo->cExtension,
                                            cert->pCertInfo->rgExtension);
    CERT_ALT_NAME_INFO *info = NULL;
    DWORD size = 0;
    if (!ext || !CryptDecodeObjectEx(X509_ASN_ENCODING, X509_ALTERNATE_NAME, ext->Value.pbData,
                                     ext->Value.cbData, CRYPT_DECODE_ALLOC_FLAG, NULL, &info, &size))
        return 0;
    int match = 0;
    for (DWORD i = 0; i < info->cAltEntry && !match; i++) {
        CERT_ALT_NAME_ENTRY *e = &info->rgAltEntry[i];
        match = e->dwAltNameChoice == CERT_ALT_NAME_IP_ADDRESS && e->IPAddress.cbData == ip_len &&
                memcmp(e->IPAddress.pbData, ip, ip_len) == 0;
    }
    LocalFree(info);
    return match;
}

static BOOL WINAPI verify_policy_ip_names(LPCSTR oid, PCCERT_CHAIN_CONTEXT chain,
                                          PCERT_CHAIN_POLICY_PARA para, PCERT_CHAIN_POLICY_STATUS status)
{
    BOOL ok = g_real_verify_policy(oid, chain, para, status);
    if (ok && oid == CERT_CHAIN_POLICY_SSL && status && status->dwError == (DWORD)CERT_E_CN_NO_MATCH &&
        para && para->pvExtraPolicyPara && chain && chain->cChain > 0 && chain->rgpChain[0]->cElement > 0) {
        SSL_EXTRA_CERT_CHAIN_POLICY_PARA *ssl = para->pvExtraPolicyPara;
        PCCERT_CONTEXT end = chain->rgpChain[0]->rgpElement[0]->pCertContext;
        if (ssl->pwszServerName && ip_san_matches(end, ssl->pwszServerName)) {
            status->dwError = 0;
            status->lChainIndex = status->lElementIndex = -1;
        }
    }
    return ok;
}

/* Replaces the import of `target` in module `mod` by `hook`; returns the number of entries. */
static int patch_iat(HMODULE mod, void *target, void *hook)
{
    unsigned char *base = (unsigned char *)mod;
    IMAGE_DOS_HEADER *dos = (IMAGE_DOS_HEADER *)base;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + dos->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    int patched = 0;
    if (!dir.VirtualAddress)
        return 0;
    for (IMAGE_IMPORT_DESCRIPTOR *d = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress); d->Name; d++) {
        for (IMAGE_THUNK_DATA *t = (IMAGE_THUNK_DATA *)(base + d->FirstThunk); t->u1.Function; t++) {
            if ((void *)(ULONG_PTR)t->u1.Function != target)
                continue;
            DWORD old;
            if (VirtualProtect(&t->u1.Function, sizeof t->u1.Function, PAGE_READWRITE, &old)) {
                t->u1.Function = (ULONG_PTR)hook;
                VirtualProtect(&t->u1.Function, sizeof t->u1.Function, old, &old);
                patched++;
            }
        }
    }
    return patched;
}

__attribute__((constructor)) static void wine_crypt32_fix(void)
{
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    if (!ntdll || !GetProcAddress(ntdll, "wine_get_version"))
        return; /* real Windows: nothing to do */
    HMODULE dll = GetModuleHandleA("oauthmail.dll");
    HMODULE crypt32 = LoadLibraryA("crypt32.dll");
    if (!dll || !crypt32)
        return;
    g_real_create_engine = (create_engine_fn)(void *)GetProcAddress(crypt32, "CertCreateCertificateChainEngine");
    if (!g_real_create_engine)
        return;
    g_real_get_chain = (get_chain_fn)(void *)GetProcAddress(crypt32, "CertGetCertificateChain");
    int n = patch_iat(dll, (void *)g_real_create_engine, (void *)create_engine_win7_size);
    if (g_real_get_chain)
        n += patch_iat(dll, (void *)g_real_get_chain, (void *)get_chain_no_revocation);
    g_real_verify_policy = (verify_policy_fn)(void *)GetProcAddress(crypt32, "CertVerifyCertificateChainPolicy");
    if (g_real_verify_policy)
        n += patch_iat(dll, (void *)g_real_verify_policy, (void *)verify_policy_ip_names);
    if (getenv("OMW_FIX_VERBOSE"))
        fprintf(stderr, "wine_crypt32_fix: %d import(s) patched\n", n);
}

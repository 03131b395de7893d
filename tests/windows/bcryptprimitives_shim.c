/*
 * bcryptprimitives_shim.c -- TESTS UNDER WINE ONLY, NEVER SHIPPED.
 *
 * Rust's Windows std (1.78+) imports ProcessPrng from bcryptprimitives.dll. Real Windows 10/11
 * have it; Wine 8 (Debian 12) does not, and the loader then refuses oauthmail.dll (status
 * c0000135). scripts/test-windows.sh builds this shim as bcryptprimitives.dll beside the test
 * programs; it forwards to BCryptGenRandom with the system-preferred RNG.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

// Program.cs — a program using the OAuthMail NuGet package as a customer's would, built by
// tests/package/run_test.sh against the package it installed (lib/net45 through Consumer.csproj
// and the package's build/net45/OAuthMail.targets; lib/netstandard2.0 with mcs), run with Mono.
//
// Usage: mono Consumer.exe --version V --tfm net45|netstandard2.0 --layout framework|netcore
//                          --settings FILE
//   --layout framework: the output of a .NET Framework build (x86\ and x64\oauthmail.dll, and
//                       liboauthmail.so for Mono, copied by OAuthMail.targets);
//   --layout netcore:   the output of a RID-less .NET build (runtimes\<rid>\native\ kept).
//   --settings: a settings JSON that must be accepted (the Delphi demo's example).
// Prints "ok - ..." / "not ok - ..." and "N passed, M failed"; exit status 1 when one failed.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Versioning;
using System.Text;
using OAuthMail;

static class Program
{
    static int s_passed, s_failed;

    static void Ok(bool cond, string what, string why = null)
    {
        if (cond) { s_passed++; Console.WriteLine("ok - " + what); }
        else { s_failed++; Console.WriteLine("not ok - " + what + (why != null ? " (" + why + ")" : "")); }
    }

    static void Check(string what, Action body)
    {
        try { body(); }
        catch (Exception ex) { Ok(false, what, ex.GetType().Name + ": " + ex.Message); }
    }

    static int Main(string[] args)
    {
        var opt = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) opt[args[i]] = args[i + 1];
        foreach (string k in new[] { "--version", "--tfm", "--layout", "--settings" })
            if (!opt.ContainsKey(k)) { Console.Error.WriteLine("Consumer: missing " + k); return 2; }
        string version = opt["--version"], tfm = opt["--tfm"], layout = opt["--layout"];
        string appDir = AppDomain.CurrentDomain.BaseDirectory;

        Check("the packaged assembly", () =>
        {
            Assembly asm = typeof(OAuthMailLibrary).Assembly;
            Ok(string.Equals(Path.GetDirectoryName(asm.Location).TrimEnd('/'), appDir.TrimEnd('/')),
               "OAuthMail.dll loaded from the program's folder", asm.Location);
            var tf = (TargetFrameworkAttribute)Attribute.GetCustomAttribute(asm, typeof(TargetFrameworkAttribute));
            string want = tfm == "net45" ? ".NETFramework,Version=v4.5" : ".NETStandard,Version=v2.0";
            Ok(tf != null && tf.FrameworkName == want, "OAuthMail.dll is built for " + want, tf == null ? "no TargetFramework" : tf.FrameworkName);
            string refs = string.Join(",", asm.GetReferencedAssemblies().Select(a => a.Name + " " + a.Version).ToArray());
            string wantRefs = tfm == "net45" ? "mscorlib 4.0.0.0" : "netstandard 2.0.0.0";
            Ok(refs == wantRefs, "OAuthMail.dll references only " + wantRefs, refs);
            var info = (AssemblyInformationalVersionAttribute)Attribute.GetCustomAttribute(asm, typeof(AssemblyInformationalVersionAttribute));
            Ok(info != null && info.InformationalVersion == version, "OAuthMail.dll's informational version is " + version,
               info == null ? "none" : info.InformationalVersion);
            Ok(asm.GetName().Version == new Version(version + ".0"), "OAuthMail.dll's assembly version is " + version + ".0", asm.GetName().Version.ToString());
        });

        Check("the native library", () =>
        {
            OAuthMailLibrary.Init();
            Ok(OAuthMailLibrary.Version == version, "om_version() through the binding is " + version, OAuthMailLibrary.Version);
            Ok(OAuthMailLibrary.VersionNumber == OAuthMailLibrary.HeaderVersionNumber,
               "om_version_number() = the binding's HeaderVersionNumber (" + OAuthMailLibrary.HeaderVersionNumber + ")",
               OAuthMailLibrary.VersionNumber.ToString());
            string maps = File.Exists("/proc/self/maps") ? File.ReadAllText("/proc/self/maps") : "";
            string loaded = maps.Split('\n').Select(l => l.Trim()).Where(l => l.EndsWith("/liboauthmail.so"))
                                .Select(l => l.Substring(l.IndexOf('/'))).FirstOrDefault();
            Ok(loaded == Path.Combine(appDir, "liboauthmail.so"), "liboauthmail.so loaded from the program's folder", loaded ?? "not mapped");
            Ok(OAuthMailLibrary.StatusName(OAuthMailStatus.DeliveryUnknown) == "OM_STATUS_DELIVERY_UNKNOWN",
               "StatusName(DeliveryUnknown)", OAuthMailLibrary.StatusName(OAuthMailStatus.DeliveryUnknown));
        });

        Check("the AnyCPU resolver's places", () =>
        {
            // What OAuthMailNativeLibrary tries on Windows, in order: x64\ or x86\ next to the
            // assembly, then runtimes\win-x64|x86\native\. The build output must hold the first
            // (framework) or the second (netcore) for both bitnesses.
            int slot = layout == "framework" ? 0 : 1;
            foreach (bool is64 in new[] { true, false })
            {
                string path = OAuthMailNativeLibrary.Candidates(appDir, is64)[slot];
                Ok(File.Exists(path), (is64 ? "64" : "32") + "-bit Windows: the resolver's candidate " +
                   path.Substring(appDir.Length) + " is in the build output", path);
                Ok(File.Exists(path) && Machine(path) == (is64 ? 0x8664 : 0x14c),
                   "  and it is an " + (is64 ? "x86-64" : "i386") + " DLL", File.Exists(path) ? "machine 0x" + Machine(path).ToString("x") : "missing");
            }
            Ok(OAuthMailNativeLibrary.Resolve() == null && OAuthMailNativeLibrary.LoadError == null,
               "Resolve() does nothing off Windows", OAuthMailNativeLibrary.LoadError);
        });

        Check("ParseMessage", () =>
        {
            string eml = "From: =?UTF-8?Q?Soci=C3=A9t=C3=A9_=C3=89lan?= <factures@elan.example>\r\n" +
                         "To: client@example.test\r\n" +
                         "Subject: =?UTF-8?Q?Facture_n=C2=B07?=\r\n" +
                         "Date: Wed, 04 Feb 2026 09:30:00 +0100\r\n" +
                         "Message-ID: <facture-7@elan.example>\r\n" +
                         "MIME-Version: 1.0\r\n" +
                         "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
                         "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n" +
                         "--b\r\nContent-Type: application/pdf; name=\"facture.pdf\"\r\n" +
                         "Content-Disposition: attachment; filename=\"facture.pdf\"\r\n" +
                         "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
            byte[] data = Encoding.ASCII.GetBytes(eml);
            ParsedMessage p = OAuthMailLibrary.ParseMessage(data);
            Ok(p.Subject == "Facture n\u00b07", "ParseMessage: the subject decoded", p.Subject);
            Ok(p.From.Count == 1 && p.From[0].Name == "Soci\u00e9t\u00e9 \u00c9lan" && p.From[0].Email == "factures@elan.example",
               "ParseMessage: the sender's name decoded", p.From.Count > 0 ? p.From[0].ToString() : "none");
            Ok(p.MessageId == "facture-7@elan.example", "ParseMessage: the Message-ID", p.MessageId);
            Ok(p.Date.HasValue && p.Date.Value.Offset == TimeSpan.FromHours(1) && p.DateUnix == 1770193800,
               "ParseMessage: the date with its offset", p.Date.HasValue ? p.Date.Value.ToString("o") : "none");
            Ok(p.Text != null && p.Text.Trim() == "Bonjour", "ParseMessage: the text body", p.Text);
            Ok(p.Attachments.Count == 1 && p.Attachments[0].FileName == "facture.pdf" && p.Attachments[0].ContentType == "application/pdf",
               "ParseMessage: the attachment", p.Attachments.Count.ToString());
            byte[] pdf = OAuthMailLibrary.GetAttachment(data, p.Attachments[0].Index);
            Ok(Encoding.ASCII.GetString(pdf) == "%PDF-1.4\n", "GetAttachment: its decoded bytes", Encoding.ASCII.GetString(pdf));
        });

        Check("a bad configuration", () =>
        {
            try
            {
                using (new OAuthMailAccount("{\"provider\": \"yahoo\", \"client_id\": \"x\"}"))
                    Ok(false, "an unknown provider is refused", "accepted");
            }
            catch (OAuthMailException ex)
            {
                Ok(ex.Status == OAuthMailStatus.InvalidConfig, "an unknown provider: OAuthMailException with Status InvalidConfig", ex.Status.ToString());
                Ok(ex.StatusCode == 2 && ex.StatusName == "OM_STATUS_INVALID_CONFIG", "  StatusCode 2, StatusName OM_STATUS_INVALID_CONFIG", ex.StatusName);
                Ok(ex.Message.Contains("provider"), "  the message names the key", ex.Message);
            }
            try
            {
                using (new OAuthMailAccount("{\"provider\": \"gmail\", \"client_id\": \"x\", \"timeout_secs\": \"soon\"}"))
                    Ok(false, "a wrong type is refused", "accepted");
            }
            catch (OAuthMailException ex)
            {
                Ok(ex.Status == OAuthMailStatus.InvalidConfig && ex.Message.Contains("timeout_secs"),
                   "a wrong type: InvalidConfig naming timeout_secs", ex.Status + ": " + ex.Message);
            }
        });

        Check("the Delphi demo's settings.example.json", () =>
        {
            string json = File.ReadAllText(opt["--settings"], Encoding.UTF8);
            using (var acc = new OAuthMailAccount(json))
            {
                string cfg = acc.GetConfigJson();
                Ok(cfg.Contains("\"token_file\"") && cfg.Contains("demo.tokens"), "settings.example.json is a valid configuration (token_file kept)", cfg);
                Ok(!cfg.Contains("the secret's value"), "  and its client_secret is masked in the effective configuration");
            }
        });

        Check("shutdown", () =>
        {
            OAuthMailLibrary.Shutdown();
            Ok(true, "Shutdown");
        });

        Console.WriteLine(s_passed + " passed, " + s_failed + " failed");
        return s_failed == 0 ? 0 : 1;
    }

    // IMAGE_FILE_HEADER.Machine of a PE file.
    static int Machine(string path)
    {
        var b = new byte[4096];
        using (var f = File.OpenRead(path)) f.Read(b, 0, b.Length);
        int pe = BitConverter.ToInt32(b, 0x3c);
        if (pe < 0 || pe > b.Length - 6 || b[pe] != 'P' || b[pe + 1] != 'E') return -1;
        return BitConverter.ToUInt16(b, pe + 4);
    }
}

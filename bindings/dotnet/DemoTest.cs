// DemoTest.cs — a real program using the .NET binding against the local sandbox (a real OAuth2
// server, a private Dovecot that checks every token, an SMTP sink), run by run_test.sh:
// authorize through the scripted browser, get a token, fetch the seeded mail (then nothing new),
// send a message with non-ASCII text, plus the binding's own promises (errors carry the status
// and name the key, a handler exception surfaces after Fetch without losing the message,
// cancellation from another thread, SafeHandle disposal, the om_message layout).
//
// Also: a token store (the host's "database": a JSON file and a lock file) shared by two accounts,
// the refreshes counted at the OAuth2 server, the log handler's release, the admin's
// open_browser kept, error texts without repetition; and an account that reads and sends
// through Microsoft Graph (the Graph emulator): fetch the seeded mail (uid 0, the Graph id in
// Uidl), nothing new the second time, send one message; and a Google service account (the
// sandbox's key file, domain-wide delegation) acting for a user of the private Dovecot: no
// authorization (WrongState), fetch that user's seeded mail, send one message as that user;
// and, through the service account for another user, the mailbox browsed: messages listed
// (envelopes, pages, search), chosen ones fetched and parsed, attachments read and saved, flags
// set, folders created, messages moved, copied, deleted, and the wait for new mail.
//
// Environment (set by run_test.sh): SANDBOX_AUTHORIZE_URL, SANDBOX_TOKEN_URL,
// SANDBOX_REVOCATION_URL, SANDBOX_CA_FILE, OM_TEST_BROWSER_JS, OM_TEST_IMAPS_PORT,
// OM_TEST_SUBMISSION_PORT, OM_TEST_SINK_DIR, OM_TEST_SEEDED, OM_TEST_WORKDIR, OM_TEST_C_LAYOUT,
// OM_TEST_STATS_JS (prints the sandbox's count of token requests of a grant type),
// OM_TEST_GRAPH_URL (the Graph emulator's service root), OM_TEST_GRAPH_USER and
// OM_TEST_GRAPH_SEEDED (its mailbox and the messages run_test.sh seeded in its Inbox),
// SANDBOX_SA_KEY_FILE (the sandbox's service account key file), OM_TEST_SA_USER (the user it
// acts for), OM_TEST_SA_SEEDED and OM_TEST_SA_SEED (the messages run_test.sh seeded in that
// user's INBOX with seed.py --seed), OM_TEST_BROWSE_USER and OM_TEST_BROWSE_SEEDED (a second
// user of the service account, for parsing and browsing: OM_TEST_BROWSE_SEEDED plain messages
// and a facture with attachments stored with seed.py --eml), OM_TEST_SEED_PY and
// OM_TEST_MAILDIR_ROOT (to deliver one more message while the program waits for mail).
// Prints "ok - …" / "not ok - …" and one final "N passed, M failed"; exit code 1 on failure.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Runtime.Serialization.Formatters.Binary;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using OAuthMail;

internal static class DemoTest
{
    private static int s_passed, s_failed;

    private static void Ok(bool condition, string name, string detail = null)
    {
        if (condition) { s_passed++; Console.WriteLine("ok - " + name); }
        else { s_failed++; Console.WriteLine("not ok - " + name + (detail != null ? " — " + detail : "")); }
    }

    // Runs a step; an unexpected exception fails it (and is printed), the program continues.
    private static void Step(string name, Action body)
    {
        try { body(); }
        catch (Exception ex) { s_failed++; Console.WriteLine("not ok - " + name + " — unexpected " + ex); }
    }

    // The exception `body` throws, or null.
    private static T Catch<T>(Action body) where T : Exception
    {
        try { body(); }
        catch (T ex) { return ex; }
        return null;
    }

    private static string Env(string name)
    {
        string v = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(v)) throw new InvalidOperationException("environment variable " + name + " is not set (run bindings/dotnet/run_test.sh)");
        return v;
    }

    private static string Q(string s) { return OAuthMailJson.Quote(s); }

    // extra: more JSON members, e.g. "\"open_browser\": false,"
    private static string AccountJson(string extra = "")
    {
        return "{"
            + "\"provider\": \"custom\","
            + "\"client_id\": \"confidential-app\","
            + "\"client_secret\": \"confidential-secret\","
            + "\"client_auth\": \"request_body\","
            + "\"authorize_url\": " + Q(Env("SANDBOX_AUTHORIZE_URL")) + ","
            + "\"token_url\": " + Q(Env("SANDBOX_TOKEN_URL")) + ","
            + "\"revocation_url\": " + Q(Env("SANDBOX_REVOCATION_URL")) + ","
            + "\"scopes\": \"openid offline_access email mail\","
            + "\"redirect_uri\": \"http://127.0.0.1/\","
            + "\"email\": \"alice@example.test\","
            + "\"incoming\": {\"protocol\": \"imap\", \"host\": \"127.0.0.1\", \"port\": " + Env("OM_TEST_IMAPS_PORT") + ", \"security\": \"tls\"},"
            + "\"outgoing\": {\"host\": \"127.0.0.1\", \"port\": " + Env("OM_TEST_SUBMISSION_PORT") + ", \"security\": \"starttls\"},"
            + "\"ca_certs_file\": " + Q(Env("SANDBOX_CA_FILE")) + ","
            + "\"browser_command\": [\"node\", " + Q(Env("OM_TEST_BROWSER_JS")) + ", \"--ca\", " + Q(Env("SANDBOX_CA_FILE")) + "],"
            + extra
            + "\"language\": \"en\""
            + "}";
    }

    // An account reading and sending through Microsoft Graph (the emulator), with the Graph scopes;
    // the scripted browser signs in as the Graph mailbox's user.
    private static string GraphAccountJson()
    {
        string user = Env("OM_TEST_GRAPH_USER");
        return "{"
            + "\"provider\": \"custom\","
            + "\"client_id\": \"confidential-app\","
            + "\"client_secret\": \"confidential-secret\","
            + "\"client_auth\": \"request_body\","
            + "\"authorize_url\": " + Q(Env("SANDBOX_AUTHORIZE_URL")) + ","
            + "\"token_url\": " + Q(Env("SANDBOX_TOKEN_URL")) + ","
            + "\"revocation_url\": " + Q(Env("SANDBOX_REVOCATION_URL")) + ","
            + "\"scopes\": \"openid offline_access email https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send\","
            + "\"redirect_uri\": \"http://127.0.0.1/\","
            + "\"email\": " + Q(user) + ","
            + "\"graph_url\": " + Q(Env("OM_TEST_GRAPH_URL")) + ","
            + "\"incoming\": {\"protocol\": \"graph\"},"
            + "\"outgoing\": {\"protocol\": \"graph\"},"
            + "\"ca_certs_file\": " + Q(Env("SANDBOX_CA_FILE")) + ","
            + "\"browser_command\": [\"node\", " + Q(Env("OM_TEST_BROWSER_JS")) + ", \"--ca\", " + Q(Env("SANDBOX_CA_FILE")) + ", \"--login\", " + Q(user) + "],"
            + "\"language\": \"en\""
            + "}";
    }

    // Microsoft Graph as the transport, through the same binding: authorize, fetch the seeded mail,
    // nothing new the second time, send one message (run_test.sh finds it in Sent Items).
    private static void GraphScenario()
    {
        int seeded = int.Parse(Env("OM_TEST_GRAPH_SEEDED"), CultureInfo.InvariantCulture);
        using (var graph = new OAuthMailAccount(GraphAccountJson()))
        {
            graph.StartAuthorization(true);
            OAuthMailStatus st = OAuthMailStatus.Pending;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (st == OAuthMailStatus.Pending && DateTime.UtcNow < deadline) st = graph.WaitAuthorization(250);
            Ok(st == OAuthMailStatus.Ok, "Graph: the scripted browser authorized the Graph scopes", OAuthMailLibrary.StatusName(st));

            var reports = OAuthMailJson.GetArrayItems(graph.ServersCheck(30000));
            Ok(reports.Count == 2 && reports.All(r => OAuthMailJson.GetString(r, "protocol") == "graph" && OAuthMailJson.GetBool(r, "authenticated") == true),
               "Graph: ServersCheck logs in to Graph both ways", string.Join(" | ", reports));
            var folders = OAuthMailJson.GetArrayItems(graph.ListFolders()).Select(f => OAuthMailJson.GetString(f, "name")).ToList();
            Ok(folders.Contains("Inbox") && folders.Contains("Sent Items"), "Graph: ListFolders lists Inbox and Sent Items", string.Join(", ", folders));

            var infos = new List<MailMessageInfo>();
            var subjects = new List<string>();
            bool rawOk = true;
            string summary = graph.Fetch(null, (info, data) =>
            {
                infos.Add(info);
                subjects.Add(Header(data, "Subject"));
                rawOk &= (Header(data, "Message-ID") ?? "").StartsWith("<dotnet-graph-", StringComparison.Ordinal) && info.Size == (ulong)data.Length;
                return FetchAction.Continue;
            });
            Ok(infos.Count == seeded && OAuthMailJson.GetInt64(summary, "delivered") == seeded,
               "Graph: Fetch delivers the " + seeded + " seeded messages", summary);
            Ok(infos.Count > 0 && infos.All(i => i.Uid == 0 && i.UidValidity == 0 && i.Folder == "INBOX" && !i.Resync),
               "Graph: MailMessageInfo.Uid and UidValidity are 0, folder INBOX",
               string.Join(", ", infos.Select(i => i.Folder + "/" + i.UidValidity + "/" + i.Uid)));
            Ok(infos.Count > 0 && infos.All(i => !string.IsNullOrEmpty(i.Uidl)) && infos.Select(i => i.Uidl).Distinct().Count() == infos.Count,
               "Graph: MailMessageInfo.Uidl is the Graph message id (non-empty, one per message)",
               string.Join(", ", infos.Select(i => i.Uidl)));
            Ok(rawOk && subjects.OrderBy(x => x, StringComparer.Ordinal).SequenceEqual(Enumerable.Range(1, seeded).Select(i => "Proposition " + i)),
               "Graph: the handler gets the seeded raw bytes (size = bytes)", string.Join(", ", subjects));
            int again = 0;
            string summary2 = graph.Fetch(null, (info, data) => { again++; return FetchAction.Continue; });
            Ok(again == 0 && OAuthMailJson.GetInt64(summary2, "delivered") == 0, "Graph: a second Fetch sees nothing new", summary2);

            string result = graph.Send("{"
                + "\"to\": " + Q("Jérôme Brûlé <client@example.test>") + ","
                + "\"subject\": " + Q("Devis n°42 – société Élan (Graph)") + ","
                + "\"text\": " + Q("Bonjour,\nnotre devis, envoyé par Microsoft Graph.\n")
                + "}");
            Ok(OAuthMailJson.GetInt64(result, "reply_code") == 202 && OAuthMailJson.GetString(result, "saved_to") == "sentitems"
               && !string.IsNullOrEmpty(OAuthMailJson.GetString(result, "message_id")),
               "Graph: Send through Graph (202; Exchange keeps the copy in sentitems)", result);
        }
    }

    // A Google service account acting for OM_TEST_SA_USER: the key file and "subject", scope
    // "mail"; no client_id, client_secret or authorize_url (the key file has the identity).
    private static string ServiceAccountJson()
    {
        return ServiceAccountJson(Env("OM_TEST_SA_USER"));
    }

    private static string ServiceAccountJson(string user)
    {
        return "{"
            + "\"provider\": \"custom\","
            + "\"flow\": \"service_account\","
            + "\"service_account_key_file\": " + Q(Env("SANDBOX_SA_KEY_FILE")) + ","
            + "\"subject\": " + Q(user) + ","
            + "\"email\": " + Q(user) + ","
            + "\"scopes\": \"mail\","
            + "\"token_url\": " + Q(Env("SANDBOX_TOKEN_URL")) + ","
            + "\"incoming\": {\"protocol\": \"imap\", \"host\": \"127.0.0.1\", \"port\": " + Env("OM_TEST_IMAPS_PORT") + ", \"security\": \"tls\"},"
            + "\"outgoing\": {\"host\": \"127.0.0.1\", \"port\": " + Env("OM_TEST_SUBMISSION_PORT") + ", \"security\": \"starttls\"},"
            + "\"ca_certs_file\": " + Q(Env("SANDBOX_CA_FILE")) + ","
            + "\"language\": \"en\""
            + "}";
    }

    // A service account: nothing to authorize, the token from its key; fetch the user's seeded
    // mail (then nothing new) and send one message as that user (found in the SMTP sink).
    private static void ServiceAccountScenario(string sinkDir)
    {
        string user = Env("OM_TEST_SA_USER");
        int seeded = int.Parse(Env("OM_TEST_SA_SEEDED"), CultureInfo.InvariantCulture);
        string seedPrefix = "<seed-" + Env("OM_TEST_SA_SEED") + "-";
        using (var sa = new OAuthMailAccount(ServiceAccountJson()))
        {
            var events = new List<string>();
            sa.TokensChanged += (sender, json) => { lock (events) events.Add(json); };

            string cfg = sa.GetConfigJson();
            Ok(OAuthMailJson.GetString(cfg, "flow") == "service_account" && cfg.Contains("mail-robot@") && !cfg.Contains("PRIVATE KEY"),
               "service account: GetConfigJson shows the account, never the private key", cfg);
            string findings = sa.Check();
            Ok(findings.Contains("service_account_delegation") && findings.Contains(user),
               "service account: Check() says what the Workspace admin must delegate", findings);

            // nothing to authorize: both interactive flows are refused
            var refused = Catch<OAuthMailException>(() => sa.StartAuthorization(false));
            Ok(refused != null && refused.Status == OAuthMailStatus.WrongState,
               "service account: StartAuthorization throws OM_STATUS_WRONG_STATE", refused == null ? "no exception" : refused.ToString());
            Ok(refused != null && refused.Message.Contains("service account needs no authorization"),
               "service account: the refusal says why, readably", refused == null ? null : refused.Message);
            var refusedDevice = Catch<OAuthMailException>(() => sa.StartDeviceAuthorization());
            Ok(refusedDevice != null && refusedDevice.Status == OAuthMailStatus.WrongState,
               "service account: StartDeviceAuthorization throws OM_STATUS_WRONG_STATE too",
               refusedDevice == null ? "no exception" : refusedDevice.ToString());

            long expiresAt;
            string token = sa.GetAccessToken(0, out expiresAt);
            long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
            Ok(!string.IsNullOrEmpty(token) && expiresAt > now + 60, "service account: GetAccessToken without any authorization (a signed assertion)");
            string tokens = sa.ExportTokens();
            Ok(OAuthMailJson.GetString(tokens, "access_token") == token && !tokens.Contains("\"refresh_token\""),
               "service account: ExportTokens holds the access token, no refresh token");
            lock (events)
                Ok(events.Count >= 1 && !events[events.Count - 1].Contains("\"refresh_token\""),
                   "service account: TokensChanged raised with the new set", events.Count + " events");

            var reports = OAuthMailJson.GetArrayItems(sa.ServersCheck(30000));
            Ok(reports.Count == 2 && reports.All(r => OAuthMailJson.GetBool(r, "authenticated") == true),
               "service account: ServersCheck logs in to IMAPS and submission as " + user, string.Join(" | ", reports));

            var ids = new List<string>();
            bool own = true;
            string summary = sa.Fetch(null, (info, data) =>
            {
                string id = Header(data, "Message-ID") ?? "";
                ids.Add(id);
                own &= id.StartsWith(seedPrefix, StringComparison.Ordinal) && Header(data, "To") == user
                       && info.Folder == "INBOX" && info.Uid != 0 && info.Size == (ulong)data.Length;
                return FetchAction.Continue;
            });
            Ok(ids.Count == seeded && OAuthMailJson.GetInt64(summary, "delivered") == seeded,
               "service account: Fetch delivers the " + seeded + " messages seeded for " + user, summary);
            Ok(ids.Count > 0 && own, "service account: they are the user's own (Message-ID, To, folder, UID, size)", string.Join(", ", ids));
            int again = 0;
            string summary2 = sa.Fetch(null, (info, data) => { again++; return FetchAction.Continue; });
            Ok(again == 0 && OAuthMailJson.GetInt64(summary2, "delivered") == 0, "service account: a second Fetch sees nothing new", summary2);

            const string saSubject = "Devis n°42 – société Élan (service account)";
            int sinkBefore = SinkMessages(sinkDir).Length;
            string result = sa.Send("{"
                + "\"to\": " + Q("Achats <achats@example.test>") + ","
                + "\"subject\": " + Q(saSubject) + ","
                + "\"text\": " + Q("Bonjour,\nnotre relance, envoyée par le compte de service.\n")
                + "}");
            Ok(OAuthMailJson.GetInt64(result, "reply_code") == 250 && OAuthMailJson.GetString(result, "mail_from") == user,
               "service account: Send through Dovecot as " + user + " (250)", result);
            var files = WaitSink(sinkDir, sinkBefore + 1);
            string sentFrom = null, sentSubject = null;
            if (files.Length > sinkBefore)
            {
                byte[] raw = File.ReadAllBytes(files[files.Length - 1]);
                sentFrom = Header(raw, "From");
                sentSubject = DecodeWords(Header(raw, "Subject"));
            }
            Ok(files.Length == sinkBefore + 1 && sentFrom == user && sentSubject == saSubject,
               "service account: the sink received it, From the user, the subject intact", sentFrom + " / " + sentSubject);
            Ok(sa.GetAccessToken() == token, "service account: the token is reused while valid");
        }
    }

    // --- parsing, browsing and acting on a mailbox, waiting for mail ------------------------------

    // The message run_test.sh stored with seed.py --eml (its names in RFC 2047 / RFC 2231 words).
    private const string FactureId = "facture-7@elan.example";
    private const string FactureSubject = "Facture n°7 – société Élan";
    private const string FactureFile = "Facture n°7 Élan.pdf";
    private const string FacturePdf = "%PDF-1.4\n%facture-7\n%%EOF\n"; // the attachment's decoded bytes
    private const string ClientsFolder = "Clients/Société Élan";

    private static string Names(IEnumerable<Address> addresses)
    {
        return string.Join("; ", addresses.Select(a => a.ToString()));
    }

    // The checks of a parsed facture (FetchMessages' parse, Fetch's "parse", ParseMessage).
    private static void CheckFacture(ParsedMessage p, string how)
    {
        Ok(p != null && p.From.Count == 1 && p.From[0].Name == "Société Élan" && p.From[0].Email == "factures@elan.example"
           && p.Subject == FactureSubject && p.MessageId == FactureId,
           how + ": From (name decoded), Subject, MessageId", p == null ? "null" : Names(p.From) + " / " + p.Subject);
        var pdf = p == null ? null : p.Attachments.FirstOrDefault(a => a.FileName == FactureFile);
        Ok(p != null && p.Attachments.Count == 2 && pdf != null && pdf.ContentType == "application/pdf"
           && pdf.Size == FacturePdf.Length && pdf.Disposition == "attachment" && !pdf.IsInline,
           how + ": the attachment \"" + FactureFile + "\" (RFC 2231 name), application/pdf, its size",
           p == null ? null : string.Join(", ", p.Attachments.Select(a => a.FileName + " " + a.ContentType + " " + a.Size)));
    }

    // Delivers one more message into the user's INBOX (seed.py, as a mail server would).
    private static void SeedOne(string user, string prefix)
    {
        var psi = new ProcessStartInfo("python3", "\"" + Env("OM_TEST_SEED_PY") + "\" \"" + Env("OM_TEST_MAILDIR_ROOT") + "\" \""
                                       + user + "\" 1 --new --subject-prefix " + prefix)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using (var p = Process.Start(psi))
        {
            p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("seed.py: " + error);
        }
    }

    // A mailbox read through the service account: list (envelopes, pages, search), fetch chosen
    // messages parsed, parse the bytes, an attachment's bytes, save the attachments, flags, folders,
    // move, copy, delete, and the wait for new mail (time up; woken by a message delivered meanwhile).
    private static void BrowseScenario(string workDir)
    {
        string user = Env("OM_TEST_BROWSE_USER");
        int seeded = int.Parse(Env("OM_TEST_BROWSE_SEEDED"), CultureInfo.InvariantCulture) + 1; // and the facture
        using (var b = new OAuthMailAccount(ServiceAccountJson(user)))
        {
            // a listing: the header fields without downloading the messages
            MessagePage page = b.ListMessages("INBOX");
            Ok(page.Messages.Count == seeded && page.Total == seeded && page.NextCursor == null && page.UidValidity != 0 && page.Folder == "INBOX",
               "ListMessages: the " + seeded + " messages of INBOX, Total, UidValidity, no next page",
               page.Messages.Count + " messages, total " + page.Total + ", cursor " + page.NextCursor);
            ListedMessage f = page.Messages.FirstOrDefault(m => m.MessageId == FactureId);
            Ok(f != null, "ListMessages: the facture is listed (MessageId without <>)");
            if (f == null) return;
            Ok(f.Subject == FactureSubject && f.From.Count == 1 && f.From[0].Name == "Société Élan" && f.From[0].Email == "factures@elan.example",
               "ListMessages: the subject and the sender's name decoded (RFC 2047)", f.Subject + " / " + Names(f.From));
            Ok(f.To.Count == 1 && f.To[0].Name == "Zélie Durand" && f.To[0].Email == user && f.Cc.Count == 1
               && f.Cc[0].Name == "Jérôme Brûlé" && f.Bcc.Count == 0,
               "ListMessages: To and Cc (a name in ISO-8859-1)", Names(f.To) + " / " + Names(f.Cc));
            Ok(f.DateUnix == 1770193800 && f.Date.HasValue && f.Date.Value.Offset == TimeSpan.FromHours(1)
               && f.Date.Value.UtcDateTime == new DateTime(2026, 2, 4, 8, 30, 0, DateTimeKind.Utc),
               "ListMessages: Date with the sender's offset, DateUnix", f.Date.HasValue ? f.Date.Value.ToString("o", CultureInfo.InvariantCulture) : "null");
            Ok(f.InReplyTo.SequenceEqual(new[] { "devis-42@example.test" }) && f.References.SequenceEqual(new[] { "devis-41@example.test", "devis-42@example.test" }),
               "ListMessages: InReplyTo, References", string.Join(",", f.InReplyTo) + " / " + string.Join(",", f.References));
            Ok(f.HasAttachments && f.Uid > 0 && f.Id == f.Uid.ToString(CultureInfo.InvariantCulture) && f.Size > 0 && f.Flags.Count == 0
               && f.InternalDateUtc.HasValue && f.InternalDateUtc.Value.Year >= 2024,
               "ListMessages: HasAttachments, Id = the UID, Size, no flags, InternalDate",
               "id " + f.Id + " uid " + f.Uid + " size " + f.Size + " flags " + string.Join(" ", f.Flags));
            bool newestFirst = true;
            for (int i = 1; i < page.Messages.Count; i++) newestFirst &= page.Messages[i].Uid < page.Messages[i - 1].Uid;
            Ok(newestFirst && page.Messages.Where(m => m != f).All(m => !m.HasAttachments && m.Subject.StartsWith("Liste ", StringComparison.Ordinal)),
               "ListMessages: newest first; the other messages have no attachment");

            // pages
            var options = new ListOptions { Folder = "INBOX", Limit = 2, Order = ListOrder.OldestFirst };
            MessagePage first = b.ListMessages(options);
            Ok(first.Messages.Count == 2 && first.NextCursor != null && first.Messages[0].Uid < first.Messages[1].Uid,
               "ListMessages Limit 2, oldest first: 2 messages and a NextCursor");
            options.Cursor = first.NextCursor;
            MessagePage rest = b.ListMessages(options);
            Ok(rest.Messages.Count == seeded - 2 && rest.NextCursor == null && first.Messages.Count == 2 && rest.Messages[0].Uid > first.Messages[1].Uid,
               "ListMessages with the cursor: the rest, then no NextCursor", rest.Messages.Count.ToString());

            // search criteria
            page = b.ListMessages(new ListOptions { Search = new SearchCriteria { Subject = "facture" } });
            Ok(page.Messages.Count == 1 && page.Messages[0].MessageId == FactureId, "ListMessages, Search.Subject: only the facture",
               page.Messages.Count.ToString());
            page = b.ListMessages(new ListOptions { Search = new SearchCriteria { Before = new DateTime(2025, 1, 1) } });
            Ok(page.Messages.Count == seeded - 1, "ListMessages, Search.Before: the messages received in 2024", page.Messages.Count.ToString());

            // chosen messages, fetched whole and parsed; the fetch state is not touched
            var got = new List<MailMessageInfo>();
            var gotData = new List<byte[]>();
            int n = b.FetchMessages(Selection.ByIds("INBOX", f.Id), (info, data) =>
            {
                GC.Collect(); // the callback thunk must survive a collection inside the native call
                got.Add(info);
                gotData.Add(data);
                return FetchAction.Continue;
            }, parse: true);
            Ok(n == 1 && got.Count == 1 && got[0].Parsed != null && got[0].ParsedJson != null && got[0].Uid == f.Uid,
               "FetchMessages (parse: true): the chosen message, with info.Parsed", n.ToString());
            if (got.Count != 1) return;
            CheckFacture(got[0].Parsed, "FetchMessages Parsed");
            byte[] raw = gotData[0];

            got.Clear();
            n = b.FetchMessages(Selection.ByUids("INBOX", first.UidValidity, f.Uid), (info, data) => { got.Add(info); return FetchAction.Continue; });
            Ok(n == 1 && got.Count == 1 && got[0].Parsed == null && got[0].ParsedJson == null,
               "FetchMessages by UID with UidValidity, without parse: no parsed message");

            // OAuthMailLibrary.ParseMessage: the bytes from anywhere
            ParsedMessage p = OAuthMailLibrary.ParseMessage(raw);
            CheckFacture(p, "ParseMessage");
            Ok(p.Text.Contains("facture n°7") && p.Html.StartsWith("<p>Bonjour", StringComparison.Ordinal) && !p.TextFromHtml,
               "ParseMessage: Text (quoted-printable UTF-8 decoded) and Html", p.Text);
            Ok(!p.Encrypted && !p.Signed && p.Security == null && !p.HasTnef && !p.Unreadable, "ParseMessage: not encrypted, not signed, no TNEF");
            var png = p.Attachments.FirstOrDefault(a => a.FileName == "logo.png");
            Ok(png != null && png.ContentId == "logo@elan.example" && png.IsInline && png.Size == 8, "ParseMessage: the inline image, its ContentId");
            ParsedMessage bare = OAuthMailLibrary.ParseMessage(raw, includeText: false, includeHtml: false);
            Ok(bare.Text == null && bare.Html == null && bare.Subject == FactureSubject, "ParseMessage without the bodies");
            Ok(ParsedMessage.FromJson(OAuthMailLibrary.ParseMessageJson(raw)).Subject == FactureSubject, "ParsedMessage.FromJson(ParseMessageJson)");

            // the attachment's bytes
            var pdf = p.Attachments.First(a => a.FileName == FactureFile);
            byte[] bytes = OAuthMailLibrary.GetAttachment(raw, pdf.Index);
            Ok(Encoding.ASCII.GetString(bytes) == FacturePdf, "GetAttachment: the decoded bytes of the PDF (base64)", bytes.Length + " bytes");
            var missing = Catch<OAuthMailException>(() => OAuthMailLibrary.GetAttachment(raw, 9));
            Ok(missing != null && missing.Status == OAuthMailStatus.InvalidArgument && missing.Message.Contains("2 attachment"),
               "GetAttachment of a missing index: InvalidArgument saying how many there are", missing == null ? "no exception" : missing.ToString());

            // saved into a directory with a non-ASCII name
            string dir = Path.Combine(workDir, "pièces jointes");
            Directory.CreateDirectory(dir);
            IList<SavedAttachment> saved = OAuthMailLibrary.SaveAttachments(raw, dir);
            Ok(saved.Count == 2 && saved.All(a => File.Exists(a.Path)), "SaveAttachments: both parts written", saved.Count.ToString());
            var savedPdf = saved.FirstOrDefault(a => a.FileName == FactureFile);
            Ok(savedPdf != null && Path.GetFileName(savedPdf.Path) == FactureFile && File.ReadAllText(savedPdf.Path) == FacturePdf
               && savedPdf.ContentType == "application/pdf",
               "SaveAttachments: \"" + FactureFile + "\" with the PDF's bytes", savedPdf == null ? null : savedPdf.Path);
            saved = OAuthMailLibrary.SaveAttachments(raw, dir, includeInline: false);
            Ok(saved.Count == 1 && Path.GetFileName(saved[0].Path) == "Facture n°7 Élan (2).pdf",
               "SaveAttachments again, without inline parts: one file, the existing one kept (\" (2)\")",
               string.Join(", ", saved.Select(a => a.Path)));
            var noDir = Catch<OAuthMailException>(() => OAuthMailLibrary.SaveAttachments(raw, Path.Combine(dir, "missing")));
            Ok(noDir != null && noDir.Status == OAuthMailStatus.IoError, "SaveAttachments into a missing directory: IoError",
               noDir == null ? "no exception" : noDir.ToString());

            // Fetch with the option "parse": every message new (FetchMessages left the state alone)
            var fetched = new List<MailMessageInfo>();
            b.Fetch("{\"parse\": true}", (info, data) => { fetched.Add(info); return FetchAction.Continue; });
            Ok(fetched.Count == seeded && fetched.All(i => i.Parsed != null && i.Parsed.MessageId != null),
               "Fetch \"parse\": true: the " + seeded + " messages, each with info.Parsed", fetched.Count.ToString());
            var fetchedFacture = fetched.FirstOrDefault(i => i.Parsed != null && i.Parsed.MessageId == FactureId);
            if (fetchedFacture != null) CheckFacture(fetchedFacture.Parsed, "Fetch Parsed");
            else Ok(false, "Fetch \"parse\": the facture among them");

            // flags
            b.SetFlags(Selection.ByIds("INBOX", f.Id), new[] { "flagged", "seen" });
            page = b.ListMessages("INBOX");
            var flagged = page.Messages.FirstOrDefault(m => m.MessageId == FactureId);
            Ok(flagged != null && flagged.HasFlag("\\Flagged") && flagged.HasFlag("\\Seen"),
               "SetFlags flagged, seen: the next listing shows \\Flagged \\Seen", flagged == null ? "not listed" : string.Join(" ", flagged.Flags));
            page = b.ListMessages(new ListOptions { Search = new SearchCriteria { Flagged = true } });
            Ok(page.Messages.Count == 1 && page.Messages[0].Id == f.Id, "Search.Flagged = true: only that one");
            b.SetFlags(Selection.ByIds("INBOX", f.Id), null, new[] { "seen" });
            page = b.ListMessages(new ListOptions { Search = new SearchCriteria { Unseen = true } });
            Ok(page.Messages.Count == seeded, "SetFlags remove seen: every message unseen again", page.Messages.Count.ToString());

            // folders: create, move, copy, delete
            b.CreateFolder(ClientsFolder);
            b.CreateFolder(ClientsFolder); // exists already: not an error
            var folderNames = OAuthMailJson.GetArrayItems(b.ListFolders()).Select(x => OAuthMailJson.GetString(x, "name")).ToList();
            Ok(folderNames.Contains(ClientsFolder), "CreateFolder \"" + ClientsFolder + "\" (twice)", string.Join(", ", folderNames));
            page = b.ListMessages("INBOX");
            ListedMessage g = page.Messages.First(m => m.MessageId != FactureId);
            b.MoveMessages(Selection.ByIds("INBOX", g.Id), ClientsFolder);
            page = b.ListMessages("INBOX");
            MessagePage clients = b.ListMessages(ClientsFolder);
            Ok(page.Messages.Count == seeded - 1 && page.Messages.All(m => m.MessageId != g.MessageId)
               && clients.Messages.Count == 1 && clients.Messages[0].MessageId == g.MessageId,
               "MoveMessages: out of INBOX, into " + ClientsFolder, page.Messages.Count + " in INBOX, " + clients.Messages.Count + " in the folder");
            b.CopyMessages(Selection.ByIds("INBOX", f.Id), "Archive");
            page = b.ListMessages("INBOX");
            MessagePage archive = b.ListMessages("Archive");
            Ok(page.Messages.Count == seeded - 1 && archive.Messages.Count == 1 && archive.Messages[0].MessageId == FactureId
               && archive.Messages[0].HasAttachments,
               "CopyMessages into Archive (created): INBOX keeps it");
            if (archive.Messages.Count == 1) b.DeleteMessages(Selection.ByIds("Archive", archive.Messages[0].Id));
            Ok(b.ListMessages("Archive").Messages.Count == 0, "DeleteMessages: Archive is empty again");
            var nothing = Catch<OAuthMailException>(() => b.MoveMessages(new Selection { Folder = "INBOX" }, "Archive"));
            Ok(nothing != null && nothing.Status == OAuthMailStatus.InvalidArgument, "MoveMessages of nothing: InvalidArgument",
               nothing == null ? "no exception" : nothing.ToString());
            var unknown = Catch<OAuthMailException>(() => b.ListMessages("Nowhere"));
            Ok(unknown != null && unknown.Status == OAuthMailStatus.InvalidArgument, "ListMessages of an unknown folder: InvalidArgument",
               unknown == null ? "no exception" : unknown.ToString());

            // the listing as a Task
            Task<MessagePage> listed = b.ListMessagesAsync(new ListOptions { Folder = "INBOX" });
            Ok(listed.Wait(60000) && listed.Result.Messages.Count == seeded - 1, "ListMessagesAsync: the same page as a Task",
               listed.Status.ToString());

            // a wait for mail as a Task, cancelled by its token: Canceled at once, the account unharmed
            var cts = new CancellationTokenSource();
            Task<WaitResult> waiting = b.WaitForMailAsync("INBOX", TimeSpan.FromSeconds(60), cts.Token);
            Thread.Sleep(1000);
            bool blocked = !waiting.IsCompleted;
            var swc = Stopwatch.StartNew();
            cts.Cancel();
            Ok(blocked && EndsCanceled(waiting, 10000) && swc.ElapsedMilliseconds < 5000,
               "WaitForMailAsync: blocked in IDLE, Canceled " + swc.ElapsedMilliseconds + " ms after the token (om_account_cancel)",
               waiting.Status + " " + TaskError(waiting));
            var cancelError = Catch<OperationCanceledException>(() => waiting.GetAwaiter().GetResult()); // what await does
            Ok(cancelError != null && cancelError.CancellationToken == cts.Token, "awaiting it throws OperationCanceledException for that token",
               cancelError == null ? "none" : cancelError.GetType().Name);
            // cancelled at any moment, even before the native call started: always Canceled, quickly
            int quick = 0;
            for (int i = 0; i < 5; i++)
            {
                var early = new CancellationTokenSource();
                Task<WaitResult> w5 = b.WaitForMailAsync("INBOX", TimeSpan.FromSeconds(60), early.Token);
                Thread.Sleep(i * 7);
                early.Cancel();
                if (EndsCanceled(w5, 10000)) quick++;
            }
            Ok(quick == 5, "WaitForMailAsync cancelled 0 to 28 ms after its start: Canceled every time", quick + " of 5");
            Ok(b.ListMessages("INBOX").Messages.Count == seeded - 1, "the next call on the account is not cancelled");

            // waiting for mail
            var sw = Stopwatch.StartNew();
            WaitResult w = b.WaitForMail("INBOX", TimeSpan.FromSeconds(1.5));
            Ok(!w.NewMail && w.Method == "idle" && w.Folder == "INBOX" && sw.ElapsedMilliseconds >= 1400,
               "WaitForMail 1.5 s, nothing arrives: NewMail false after " + sw.ElapsedMilliseconds + " ms (IDLE)", w.Method);
            Exception seedError = null;
            var seeder = new Thread(() =>
            {
                try { Thread.Sleep(3000); SeedOne(user, "Wake"); }
                catch (Exception ex) { seedError = ex; }
            });
            sw.Restart();
            seeder.Start();
            w = b.WaitForMail("INBOX", TimeSpan.FromSeconds(60));
            long waited = sw.ElapsedMilliseconds;
            seeder.Join();
            Ok(seedError == null, "a message delivered by another thread (seed.py) during the wait", seedError == null ? null : seedError.ToString());
            Ok(w.NewMail && w.Method == "idle" && waited < 30000, "WaitForMail woken by the new message after " + waited + " ms (of 60000)");
            page = b.ListMessages("INBOX");
            Ok(page.Messages.Count == seeded && page.Messages[0].Subject.StartsWith("Wake ", StringComparison.Ordinal),
               "the new message is listed first", page.Messages.Count + ": " + page.Messages[0].Subject);
        }
    }

    // Header value of a raw message (unfolded), or null.
    private static string Header(byte[] raw, string name)
    {
        string text = Encoding.UTF8.GetString(raw);
        int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0) end = text.IndexOf("\n\n", StringComparison.Ordinal);
        if (end >= 0) text = text.Substring(0, end);
        text = Regex.Replace(text, "\r?\n[ \t]", " ");
        foreach (string line in text.Split('\n'))
        {
            string l = line.TrimEnd('\r');
            if (l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)) return l.Substring(name.Length + 1).Trim();
        }
        return null;
    }

    // RFC 2047 encoded words (B and Q), adjacent words joined (whitespace between them dropped).
    private static string DecodeWords(string value)
    {
        if (value == null) return null;
        var word = new Regex(@"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=");
        value = Regex.Replace(value, @"(\?=)\s+(=\?)", "$1$2");
        return word.Replace(value, m =>
        {
            Encoding enc = Encoding.GetEncoding(m.Groups[1].Value);
            byte[] bytes;
            if (m.Groups[2].Value.ToUpperInvariant() == "B") bytes = Convert.FromBase64String(m.Groups[3].Value);
            else
            {
                var list = new List<byte>();
                string s = m.Groups[3].Value;
                for (int i = 0; i < s.Length; i++)
                {
                    if (s[i] == '_') list.Add(0x20);
                    else if (s[i] == '=' && i + 2 < s.Length) { list.Add(byte.Parse(s.Substring(i + 1, 2), NumberStyles.HexNumber)); i += 2; }
                    else list.Add((byte)s[i]);
                }
                bytes = list.ToArray();
            }
            return enc.GetString(bytes);
        });
    }

    // Token requests of a grant type the sandbox's OAuth2 server received (GET /_test/stats).
    private static long TokenRequests(string grant)
    {
        var psi = new ProcessStartInfo("node", "\"" + Env("OM_TEST_STATS_JS") + "\" " + grant)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using (var p = Process.Start(psi))
        {
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("the sandbox's /_test/stats: " + error);
            return long.Parse(output.Trim(), CultureInfo.InvariantCulture);
        }
    }

    // "InvalidArgument" -> "OM_STATUS_INVALID_ARGUMENT"
    private static string HeaderName(OAuthMailStatus status)
    {
        return "OM_STATUS_" + Regex.Replace(status.ToString(), "(?<=[a-z])(?=[A-Z])", "_").ToUpperInvariant();
    }

    // The exception a finished Task ended with (its AggregateException unwrapped), or null.
    private static Exception TaskError(Task t)
    {
        if (t.Exception == null) return null;
        return t.Exception.InnerExceptions.Count == 1 ? t.Exception.InnerExceptions[0] : t.Exception;
    }

    // Waits for t (bounded); true when it ended Canceled.
    private static bool EndsCanceled(Task t, int withinMs)
    {
        try { t.Wait(withinMs); } catch (AggregateException) { }
        return t.IsCanceled;
    }

    // BinaryFormatter there and back (Mono has it; .NET 5+ disables it).
    private static T RoundTrip<T>(T value)
    {
        var formatter = new BinaryFormatter();
        using (var ms = new MemoryStream())
        {
            formatter.Serialize(ms, value);
            ms.Position = 0;
            return (T)formatter.Deserialize(ms);
        }
    }

    private static bool SameError(OAuthMailException a, OAuthMailException b)
    {
        return a != null && b != null && a.Status == b.Status && a.StatusCode == b.StatusCode && a.StatusName == b.StatusName
               && a.Message == b.Message && a.Detail == b.Detail && a.Hint == b.Hint;
    }

    private static int Occurrences(string text, string part)
    {
        if (string.IsNullOrEmpty(part)) return 0;
        int n = 0, i = 0;
        while ((i = text.IndexOf(part, i, StringComparison.Ordinal)) >= 0) { n++; i += part.Length; }
        return n;
    }

    private static long Version(string tokensJson)
    {
        return OAuthMailJson.GetInt64(tokensJson, "version") ?? -1;
    }

    // A token set as the host would keep it, its access token expired and its version raised
    // (as tests/common/capi.rs expire_access_token does): the next call must refresh.
    private static string Expired(string tokensJson)
    {
        long v = Version(tokensJson);
        string t = Regex.Replace(tokensJson, "\"expires_at\"\\s*:\\s*\\d+", "\"expires_at\":1");
        return Regex.Replace(t, "\"version\"\\s*:\\s*" + v, "\"version\":" + (v + 1));
    }

    /// <summary>
    /// The host's "database" of this test: the token set in a JSON file, and a lock file opened
    /// with FileShare.None standing for the row lock (SELECT … FOR UPDATE) that another
    /// process would wait for. (On Windows the share mode excludes other processes too; on
    /// Mono/Linux only this process — a real host uses its database's lock.)
    /// </summary>
    private sealed class FileTokenStore : ITokenStore
    {
        private readonly string _path;
        private FileStream _rowLock;
        public int Locks, Unlocks, Busy;
        public readonly List<string> Saved = new List<string>(); // what Unlock got (null: nothing)
        public Exception FailWith;                              // thrown by TryLock when set

        public FileTokenStore(string path) { _path = path; }

        public string LockPath { get { return _path + ".lock"; } }

        // What another process does: take the row lock (held until the stream is disposed).
        public FileStream Hold()
        {
            return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }

        public bool TryLock(TimeSpan timeout, out string storedTokensJson)
        {
            storedTokensJson = null;
            // Collect inside the native call: the Cdecl thunks must survive it.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (FailWith != null) throw FailWith;
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                try { _rowLock = Hold(); break; }
                catch (IOException)
                {
                    if (DateTime.UtcNow >= deadline) { Busy++; return false; }
                    Thread.Sleep(20);
                }
            }
            Locks++;
            storedTokensJson = File.Exists(_path) ? File.ReadAllText(_path) : null;
            return true;
        }

        public void Unlock(string newTokensJsonOrNull)
        {
            try
            {
                Unlocks++;
                Saved.Add(newTokensJsonOrNull);
                if (newTokensJsonOrNull != null) File.WriteAllText(_path, newTokensJsonOrNull); // "UPDATE … ; COMMIT"
            }
            finally
            {
                _rowLock.Dispose(); // the lock is released even when the save failed
                _rowLock = null;
            }
        }
    }

    private static string[] SinkMessages(string sinkDir)
    {
        // .json is written after its .eml: a message is complete once its .json exists.
        return Directory.GetFiles(sinkDir, "*.json")
            .Select(j => Path.ChangeExtension(j, ".eml"))
            .OrderBy(p => int.Parse(Path.GetFileNameWithoutExtension(p), CultureInfo.InvariantCulture))
            .ToArray();
    }

    private static string[] WaitSink(string sinkDir, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string[] files;
        while ((files = SinkMessages(sinkDir)).Length < atLeast && DateTime.UtcNow < deadline) Thread.Sleep(50);
        return files;
    }

    private static int Main()
    {
        Console.OutputEncoding = new UTF8Encoding(false);
        var started = DateTime.UtcNow;
        try { Run(); }
        catch (Exception ex) { s_failed++; Console.WriteLine("not ok - the scenario stopped: " + ex); }
        Console.WriteLine("# {0:0.0} s", (DateTime.UtcNow - started).TotalSeconds);
        Console.WriteLine("{0} passed, {1} failed", s_passed, s_failed);
        return s_failed == 0 ? 0 : 1;
    }

    // Two accounts (two workstations) sharing one grant through the host's "database".
    private static void TokenStoreScenario(string workDir)
    {
        // A grant of its own, so that the refreshes below rotate no one else's refresh token.
        string granted;
        using (var src = new OAuthMailAccount(AccountJson()))
        {
            src.StartAuthorization(true);
            Task wait = src.WaitAuthorizationAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try { wait.Wait(); } catch (AggregateException) { }
            Ok(wait.Status == TaskStatus.RanToCompletion, "a grant for the token store scenario (WaitAuthorizationAsync completes)",
               wait.Status + " " + TaskError(wait));
            granted = src.ExportTokens();
        }

        string db = Path.Combine(workDir, "crm-database-tokens.json");
        string stored = Expired(granted);
        File.WriteAllText(db, stored); // what the host's database holds: an expired access token
        long storedVersion = Version(stored);

        var store1 = new FileTokenStore(db);
        using (var ws1 = new OAuthMailAccount(AccountJson()))
        {
            ws1.SetTokenStore(store1);
            ws1.ImportTokens(stored); // as a host does at start
            Ok(store1.Locks == 0, "ImportTokens with a token store does not lock it");

            long refreshBefore = TokenRequests("refresh_token");
            long expiresAt;
            string token1 = ws1.GetAccessToken(0, out expiresAt);
            long refreshAfter = TokenRequests("refresh_token");
            long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
            Ok(!string.IsNullOrEmpty(token1) && expiresAt > now + 60, "an expired access token is refreshed through the store");
            Ok(store1.Locks == 1 && store1.Unlocks == 1, "TryLock ran once, then Unlock",
               store1.Locks + " locks, " + store1.Unlocks + " unlocks");
            string saved = store1.Saved.Count == 1 ? store1.Saved[0] : null;
            Ok(saved != null && Version(saved) > storedVersion && saved.Contains("\"refresh_token\""),
               "Unlock got the new token set, its version above the stored one (" + storedVersion + " -> " + (saved == null ? -1 : Version(saved)) + ")");
            string inDb = File.ReadAllText(db);
            Ok(saved != null && inDb == saved && OAuthMailJson.GetString(inDb, "access_token") == token1,
               "the \"database\" now holds the new set");
            Ok(refreshAfter == refreshBefore + 1, "one refresh at the OAuth2 server",
               (refreshAfter - refreshBefore) + " refresh requests");

            // Another workstation: no tokens imported, the same database.
            var store2 = new FileTokenStore(db);
            using (var ws2 = new OAuthMailAccount(AccountJson()))
            {
                ws2.SetTokenStore(store2);
                string token2 = ws2.GetAccessToken();
                long refreshAfter2 = TokenRequests("refresh_token");
                Ok(token2 == token1, "the second account gets the stored, fresh token");
                Ok(refreshAfter2 == refreshAfter, "without another refresh at the OAuth2 server",
                   (refreshAfter2 - refreshAfter) + " more refresh requests");
                Ok(store2.Locks == 1 && store2.Unlocks == 1 && store2.Saved.Count == 1 && store2.Saved[0] == null,
                   "its store was locked once and unlocked with nothing to save",
                   store2.Locks + " locks, saved " + string.Join(",", store2.Saved.Select(x => x == null ? "null" : "set")));
                Ok(File.ReadAllText(db) == inDb, "the database is unchanged");
            }

            // Another process holds the row lock longer than this account waits (3/4 of timeout_secs).
            var store3 = new FileTokenStore(db);
            using (var ws3 = new OAuthMailAccount(AccountJson("\"timeout_secs\": 2,")))
            {
                ws3.SetTokenStore(store3);
                OAuthMailException locked;
                using (store3.Hold())
                    locked = Catch<OAuthMailException>(() => ws3.GetAccessToken());
                Ok(locked != null && locked.Status == OAuthMailStatus.TokensLocked && store3.Busy == 1 && store3.Unlocks == 0,
                   "lock not taken in time (TryLock false): OAuthMailException TokensLocked, Unlock not called",
                   locked == null ? "no exception" : locked.ToString());
                Ok(ws3.GetAccessToken() == token1, "once the lock is free, the same account gets the stored token");

                // The database is unreachable: TryLock throws.
                var store4 = new FileTokenStore(db) { FailWith = new TimeoutException("the CRM's database does not answer") };
                ws3.SetTokenStore(store4);
                ws3.ImportTokens(Expired(ws3.ExportTokens()));
                var failed = Catch<OAuthMailException>(() => ws3.GetAccessToken());
                Ok(failed != null && failed.Status == OAuthMailStatus.IoError && failed.InnerException is TimeoutException,
                   "TryLock throws: OAuthMailException IoError, the host's exception as InnerException",
                   failed == null ? "no exception" : failed.ToString());
                Ok(TokenRequests("refresh_token") == refreshAfter, "no refresh without the store's lock");
                ws3.SetTokenStore(null);
            }
        }
        Ok(TokenStoreBridge.LiveCount == 0, "every store released by the library (free function) once the accounts are disposed",
           TokenStoreBridge.LiveCount + " alive");
    }

    private static void Run()
    {
        int seeded = int.Parse(Env("OM_TEST_SEEDED"), CultureInfo.InvariantCulture);
        string sinkDir = Env("OM_TEST_SINK_DIR");
        string workDir = Env("OM_TEST_WORKDIR");

        // --- the library ------------------------------------------------------------------
        Step("library version", () =>
        {
            Ok(OAuthMailLibrary.Version == "0.1.0", "OAuthMailLibrary.Version is \"0.1.0\"", OAuthMailLibrary.Version);
            Ok(OAuthMailLibrary.VersionNumber == OAuthMailLibrary.HeaderVersionNumber,
               "om_version_number matches the header's OM_VERSION_NUMBER", OAuthMailLibrary.VersionNumber.ToString());
            Ok(OAuthMailLibrary.StatusName(OAuthMailStatus.Pending) == "OM_STATUS_PENDING"
               && OAuthMailLibrary.StatusName(OAuthMailStatus.LoginRejected) == "OM_STATUS_LOGIN_REJECTED"
               && OAuthMailLibrary.StatusName(12345) == "OM_STATUS_UNKNOWN",
               "status names (borrowed static strings)");
            Ok(OAuthMailLibrary.StatusName(OAuthMailStatus.TokensLocked) == "OM_STATUS_TOKENS_LOCKED"
               && OAuthMailLibrary.StatusName(OAuthMailStatus.DeliveryUnknown) == "OM_STATUS_DELIVERY_UNKNOWN",
               "OAuthMailStatus.TokensLocked = 22 and DeliveryUnknown = 23 line up with the library");
            var du = new OAuthMailException(OAuthMailStatus.DeliveryUnknown, null, null, null, null);
            Ok(du.DeliveryUnknown && du.StatusName == "OM_STATUS_DELIVERY_UNKNOWN" && du.Message.Length > 0,
               "OAuthMailException.DeliveryUnknown for status 23", du.ToString());
            Ok(du.Status == OAuthMailStatus.DeliveryUnknown && du.StatusCode == 23 && new OAuthMailException(23, null, null, null, null).Status == OAuthMailStatus.DeliveryUnknown,
               "Status is the OAuthMailStatus enum, StatusCode the same int");
            var wrong = Enum.GetValues(typeof(OAuthMailStatus)).Cast<OAuthMailStatus>()
                .Where(v => OAuthMailLibrary.StatusName(v) != HeaderName(v) || OAuthMailLibrary.StatusName((int)v) != HeaderName(v))
                .Select(v => v + " = " + (int)v + " is " + OAuthMailLibrary.StatusName(v)).ToList();
            Ok(wrong.Count == 0 && Enum.GetValues(typeof(OAuthMailStatus)).Length == 25,
               "every OAuthMailStatus value is the library's OM_STATUS_* of that number (25 values)", string.Join("; ", wrong));
        });

        Step("native library resolver (AnyCPU)", () =>
        {
            Ok(!OAuthMailNativeLibrary.IsWindows && OAuthMailNativeLibrary.LoadedPath == null && OAuthMailNativeLibrary.LoadError == null
               && OAuthMailNativeLibrary.Resolve() == null,
               "Linux/Mono: the resolver does nothing (the loader finds liboauthmail.so), and the P/Invokes work");
            string root = Path.Combine(workDir, "anycpu");
            var x64 = OAuthMailNativeLibrary.Candidates(root, true);
            var x86 = OAuthMailNativeLibrary.Candidates(root, false);
            Ok(x64.SequenceEqual(new[] { Path.Combine(root, "x64", "oauthmail.dll"), Path.Combine(root, "runtimes", "win-x64", "native", "oauthmail.dll") })
               && x86.SequenceEqual(new[] { Path.Combine(root, "x86", "oauthmail.dll"), Path.Combine(root, "runtimes", "win-x86", "native", "oauthmail.dll") }),
               "Candidates: x64\\ or x86\\ by bitness, then runtimes\\win-<arch>\\native\\", string.Join(", ", x64.Concat(x86)));
            // A layout with x86\ and the NuGet runtimes folder for x64 (files standing for the DLLs).
            foreach (string f in new[] { x86[0], x64[1] })
            {
                Directory.CreateDirectory(Path.GetDirectoryName(f));
                File.WriteAllText(f, "stands for the DLL");
            }
            var loaded = new List<string>();
            Func<string, KeyValuePair<IntPtr, int>> load = path => { loaded.Add(path); return new KeyValuePair<IntPtr, int>(new IntPtr(1), 0); };
            string error;
            string got64 = OAuthMailNativeLibrary.ResolveIn(new[] { Path.Combine(workDir, "elsewhere"), root }, true, load, out error);
            string got32 = OAuthMailNativeLibrary.ResolveIn(new[] { root }, false, load, out error);
            Ok(got64 == x64[1] && got32 == x86[0] && loaded.SequenceEqual(new[] { x64[1], x86[0] }),
               "a 64-bit process loads runtimes\\win-x64\\native\\oauthmail.dll, a 32-bit one x86\\oauthmail.dll (by full path)",
               string.Join(", ", loaded));
            string none = OAuthMailNativeLibrary.ResolveIn(new[] { Path.Combine(workDir, "elsewhere") }, true, load, out error);
            Ok(none == null && error == null, "no arch folder: nothing loaded, the usual search applies");
            string bad = OAuthMailNativeLibrary.ResolveIn(new[] { root }, false, path => new KeyValuePair<IntPtr, int>(IntPtr.Zero, 193), out error);
            Ok(bad == null && error != null && error.Contains(x86[0]) && error.Contains("32-bit") && error.Contains("193"),
               "a DLL that does not load: the error names the file, the bitness and the Windows error", error);
        });

        Step("om_message layout", () =>
        {
            Type t = typeof(Native.om_message);
            string mine = string.Format(CultureInfo.InvariantCulture,
                "sizeof={0} uid={1} uidvalidity={2} resync={3} size={4} internal_date={5} folder={6} flags={7} uidl={8} parsed_json={9}",
                Marshal.SizeOf(t), Marshal.OffsetOf(t, "uid"), Marshal.OffsetOf(t, "uidvalidity"),
                Marshal.OffsetOf(t, "resync"), Marshal.OffsetOf(t, "size"), Marshal.OffsetOf(t, "internal_date"),
                Marshal.OffsetOf(t, "folder"), Marshal.OffsetOf(t, "flags"), Marshal.OffsetOf(t, "uidl"),
                Marshal.OffsetOf(t, "parsed_json"));
            string c = Env("OM_TEST_C_LAYOUT");
            Ok(mine == c, "om_message: C# layout equals the C compiler's (" + c + ")", "C# " + mine);
        });

        OAuthMailLibrary.Init();
        var logLines = new List<string>();
        Step("log handler", () =>
        {
            OAuthMailLibrary.SetLogHandler((level, message) => { lock (logLines) logLines.Add(level + " " + message); },
                                           OAuthMailLogLevel.Info);
            OAuthMailLibrary.WriteLog(OAuthMailLogLevel.Info, "binding .NET : journal écrit");
            var deadline = DateTime.UtcNow.AddSeconds(3);
            bool seen = false;
            while (!seen && DateTime.UtcNow < deadline)
            {
                lock (logLines) seen = logLines.Any(l => l.Contains("binding .NET : journal écrit"));
                if (!seen) Thread.Sleep(20);
            }
            Ok(seen, "the log handler receives a UTF-8 message (Cdecl delegate kept alive)");
            Ok(OAuthMailLibrary.LogHandlersAlive == 1, "one log handler held by the library", OAuthMailLibrary.LogHandlersAlive.ToString());
        });

        // --- errors -------------------------------------------------------------------------
        Step("invalid config", () =>
        {
            var ex = Catch<OAuthMailException>(() => new OAuthMailAccount("{\"provider\": \"custom\", \"bogus_key\": 1}").Dispose());
            Ok(ex != null && ex.Status == OAuthMailStatus.InvalidConfig && ex.StatusName == "OM_STATUS_INVALID_CONFIG",
               "unknown key: OAuthMailException with Status == OM_STATUS_INVALID_CONFIG", ex == null ? "no exception" : ex.ToString());
            Ok(ex != null && ex.Message.Contains("bogus_key"), "the message names the key", ex == null ? null : ex.Message);

            var ex2 = Catch<OAuthMailException>(() => new OAuthMailAccount(AccountJson().Replace("\"language\": \"en\"", "\"language\": \"en\", \"timeout_secs\": \"soixante\"")).Dispose());
            Ok(ex2 != null && ex2.Status == OAuthMailStatus.InvalidConfig && ex2.Message.Contains("timeout_secs"),
               "wrong type: InvalidConfig naming timeout_secs", ex2 == null ? "no exception" : ex2.ToString());

            var ex3 = Catch<ArgumentException>(() => new OAuthMailAccount("{\"provider\": \"cus\0tom\"}").Dispose());
            Ok(ex3 != null, "a string with an embedded NUL is refused before the native call");
        });

        // --- authorization --------------------------------------------------------------------
        var tokenEvents = new List<string>();
        var account = new OAuthMailAccount(AccountJson());
        account.TokensChanged += (sender, json) =>
        {
            GC.Collect(); // the token thunk is called from inside WaitAuthorization: it must be alive
            lock (tokenEvents) tokenEvents.Add(json);
        };

        Step("configuration", () =>
        {
            string cfg = account.GetConfigJson();
            Ok(cfg.Contains("********") && !cfg.Contains("confidential-secret"), "GetConfigJson masks the secret");
            string findings = account.Check();
            Ok(findings.TrimStart().StartsWith("[", StringComparison.Ordinal), "Check() returns a JSON array", findings);
        });

        Step("error text", () =>
        {
            var ex = Catch<OAuthMailException>(() => account.GetAccessToken());
            Ok(ex != null && ex.Status == OAuthMailStatus.AuthorizationRequired && ex.Hint.Length > 0,
               "before authorization: AuthorizationRequired with a hint", ex == null ? "no exception" : ex.ToString());
            if (ex != null && ex.Hint.Length > 0)
            {
                Ok(Occurrences(ex.Message, ex.Hint) == 1, "the hint appears once in Message", ex.Message);
                Ok(Occurrences(ex.ToString(), ex.Hint) == 1 && ex.ToString().StartsWith("OM_STATUS_AUTHORIZATION_REQUIRED: ", StringComparison.Ordinal),
                   "ToString() = StatusName: Message, the hint not appended again", ex.ToString());
                OAuthMailException back = null;
                Exception failure = Catch<Exception>(() => back = RoundTrip(ex));
                Ok(failure == null && SameError(ex, back),
                   "[Serializable]: a BinaryFormatter round trip keeps Status, StatusCode, StatusName, Message, Detail, Hint",
                   failure != null ? failure.ToString() : (back == null ? "null" : back.ToString() + " / " + back.Hint));
            }
        });

        Step("the admin's open_browser: false is kept", () =>
        {
            using (var quiet = new OAuthMailAccount(AccountJson("\"open_browser\": false,")))
            {
                string url = quiet.StartAuthorization();
                Ok(url != null && url.StartsWith(Env("SANDBOX_AUTHORIZE_URL"), StringComparison.Ordinal),
                   "StartAuthorization() returns the URL", url);
                // The scripted browser, if it had been started, would complete within this wait.
                OAuthMailStatus status = quiet.WaitAuthorization(3000);
                Ok(status == OAuthMailStatus.Pending,
                   "StartAuthorization() does not override open_browser: false (no browser, still pending after 3 s)",
                   OAuthMailLibrary.StatusName(status));
                // the same wait as a Task, cancelled by its token (om_account_cancel)
                var cts = new CancellationTokenSource();
                Task wait = quiet.WaitAuthorizationAsync(cts.Token);
                Thread.Sleep(1500);
                bool stillWaiting = !wait.IsCompleted;
                var sw = Stopwatch.StartNew();
                cts.Cancel();
                Ok(stillWaiting && EndsCanceled(wait, 10000) && sw.ElapsedMilliseconds < 5000,
                   "WaitAuthorizationAsync: pending until its token is cancelled, then Canceled (after " + sw.ElapsedMilliseconds + " ms)",
                   wait.Status.ToString());
                var after = Catch<OAuthMailException>(() => quiet.WaitAuthorization(100));
                Ok(after != null && after.Status == OAuthMailStatus.Cancelled,
                   "the cancellation ended the authorization itself (om_account_cancel)", after == null ? "no exception" : after.ToString());
                Ok(quiet.StartAuthorization(null) != null && quiet.WaitAuthorization(500) == OAuthMailStatus.Pending,
                   "StartAuthorization(null) again: the configuration still decides, and no stray cancel hits the new wait");
                quiet.CancelAuthorization();
            }
        });

        Step("servers check before authorization", () =>
        {
            var reports = OAuthMailJson.GetArrayItems(account.ServersCheck(30000));
            Ok(reports.Count == 2 && reports.All(r => OAuthMailJson.GetBool(r, "reachable") == true),
               "ServersCheck: both servers reachable", string.Join(" | ", reports));
        });

        Step("browser authorization", () =>
        {
            string url = account.StartAuthorization(true);
            Ok(url != null && url.StartsWith(Env("SANDBOX_AUTHORIZE_URL"), StringComparison.Ordinal) && url.Contains("code_challenge_method=S256"),
               "StartAuthorization returns the authorization URL (PKCE S256)", url);
            OAuthMailStatus status = OAuthMailStatus.Pending;
            int polls = 0;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (status == OAuthMailStatus.Pending && DateTime.UtcNow < deadline)
            {
                status = account.WaitAuthorization(250);
                polls++;
            }
            Ok(status == OAuthMailStatus.Ok, "WaitAuthorization loop ends with OK (PENDING returned, not thrown; " + polls + " polls)");
            lock (tokenEvents)
                Ok(tokenEvents.Count >= 1 && tokenEvents[tokenEvents.Count - 1].Contains("refresh_token"),
                   "TokensChanged raised inside WaitAuthorization with the token set", tokenEvents.Count + " events");
        });

        string accessToken = null;
        Step("access token", () =>
        {
            long expiresAt;
            accessToken = account.GetAccessToken(0, out expiresAt);
            long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
            Ok(!string.IsNullOrEmpty(accessToken) && expiresAt > now, "GetAccessToken returns a token and its expiry");
            Ok(account.GetAccessToken() == accessToken, "a second call returns the cached token");
        });

        Step("servers check after authorization", () =>
        {
            var reports = OAuthMailJson.GetArrayItems(account.ServersCheck(30000));
            Ok(reports.Count == 2 && reports.All(r => OAuthMailJson.GetBool(r, "authenticated") == true),
               "ServersCheck: logged in to IMAPS and submission with the token", string.Join(" | ", reports));
        });

        // A second account (another workstation): tokens through the host's database.
        OAuthMailAccount second = null;
        Step("export / import tokens", () =>
        {
            string tokens = account.ExportTokens();
            second = new OAuthMailAccount(AccountJson());
            second.ImportTokens(tokens);
            Ok(second.GetAccessToken() == accessToken, "ImportTokens on another account gives the same access token");
            long version = OAuthMailJson.GetInt64(tokens, "version") ?? -1;
            string older = Regex.Replace(tokens, "\"version\"\\s*:\\s*" + version, "\"version\":" + (version - 1));
            var ex = Catch<OAuthMailException>(() => second.ImportTokens(older));
            Ok(ex != null && ex.Status == OAuthMailStatus.StaleTokens, "an older token set is refused with OM_STATUS_STALE_TOKENS",
               ex == null ? "no exception" : ex.ToString());
        });

        Step("a refresh token the provider refuses", () =>
        {
            // the set with an expired access token and a refresh token the server does not know
            string tokens = Regex.Replace(Expired(account.ExportTokens()), "\"refresh_token\"\\s*:\\s*\"[^\"]*\"", "\"refresh_token\":\"revoked-elsewhere\"");
            using (var refused = new OAuthMailAccount(AccountJson()))
            {
                refused.ImportTokens(tokens);
                var ex = Catch<OAuthMailException>(() => refused.GetAccessToken());
                Ok(ex != null && ex.Status == OAuthMailStatus.AuthorizationRequired && ex.Detail.Length > 0 && ex.Hint.Length > 0,
                   "AuthorizationRequired with the provider's detail and a hint", ex == null ? "no exception" : ex.ToString());
                if (ex == null || ex.Detail.Length == 0 || ex.Hint.Length == 0) return;
                Ok(Occurrences(ex.Message, ex.Detail) == 1 && Occurrences(ex.Message, ex.Hint) == 1,
                   "Message holds the detail and the hint once each (the library's message, shown as it is)", ex.Message);
                Ok(Occurrences(ex.ToString(), ex.Detail) == 1 && Occurrences(ex.ToString(), ex.Hint) == 1,
                   "ToString() does not append them again", ex.ToString());
                Ok(SameError(ex, RoundTrip(ex)), "serialized and back: the detail and the hint kept apart");
            }
        });

        // --- fetching -------------------------------------------------------------------------
        const string inbox = "{\"folder\": \"INBOX\"}";
        Step("fetch stopped by the handler", () =>
        {
            int calls = 0;
            string summary = account.Fetch(inbox, (info, data) => { calls++; return FetchAction.Stop; });
            Ok(calls == 1 && OAuthMailJson.GetInt64(summary, "delivered") == 0 && OAuthMailJson.GetBool(summary, "stopped_by_callback") == true,
               "FetchAction.Stop: one call, nothing accepted", summary);
        });

        uint thrownUid = 0;
        Step("handler exception", () =>
        {
            int calls = 0;
            OAuthMailException reentrant = null;
            var ex = Catch<InvalidOperationException>(() => account.Fetch(inbox, (info, data) =>
            {
                calls++;
                thrownUid = info.Uid;
                reentrant = Catch<OAuthMailException>(() => account.ExportTokens());
                throw new InvalidOperationException("the CRM's database is locked");
            }));
            Ok(reentrant != null && reentrant.Status == OAuthMailStatus.ReentrantCall,
               "calling the account from its own fetch handler: OM_STATUS_REENTRANT_CALL", reentrant == null ? "no exception" : reentrant.ToString());
            Ok(ex != null && ex.Message == "the CRM's database is locked" && calls == 1,
               "the handler's exception surfaces from Fetch after the native call returned", ex == null ? "no exception" : null);
            Ok(ex != null && ex.StackTrace != null && ex.StackTrace.Contains("DemoTest"), "its stack trace is kept (ExceptionDispatchInfo)");
        });

        Step("fetch the seeded mail", () =>
        {
            var uids = new List<uint>();
            var subjects = new List<string>();
            bool infoOk = true;
            string summary = account.Fetch(inbox, (info, data) =>
            {
                // Collect inside the native call: the callback thunk and the account must survive it.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                uids.Add(info.Uid);
                subjects.Add(Header(data, "Subject"));
                infoOk &= info.Folder == "INBOX" && info.UidValidity != 0 && info.Uidl == "" && info.Size == (ulong)data.Length
                          && info.InternalDateUtc.HasValue && info.InternalDateUtc.Value.Year == 2024 && !info.Resync;
                return FetchAction.Continue;
            });
            Ok(uids.Count == seeded && OAuthMailJson.GetInt64(summary, "delivered") == seeded,
               "Fetch delivers the " + seeded + " seeded messages", summary);
            Ok(uids.Count > 0 && uids[0] == thrownUid, "the message whose handler threw comes again (uid " + thrownUid + ")");
            Ok(subjects.SequenceEqual(Enumerable.Range(1, seeded).Select(i => "Test message " + i)),
               "subjects in UID order", string.Join(", ", subjects));
            Ok(infoOk, "MailMessageInfo: folder, UIDVALIDITY, size = bytes, internal date (om_message fields)");
            int again = 0;
            string summary2 = account.Fetch(inbox, (info, data) => { again++; return FetchAction.Continue; });
            Ok(again == 0 && OAuthMailJson.GetInt64(summary2, "delivered") == 0, "a second Fetch sees nothing new", summary2);
        });

        Step("sync state", () =>
        {
            string state = account.ExportSyncState();
            Ok(state.Contains("INBOX"), "ExportSyncState names the folder", state);
            account.ImportSyncState(state);
            int n = 0;
            account.Fetch(inbox, (i, d) => { n++; return FetchAction.Continue; });
            Ok(n == 0, "after ImportSyncState of the same state, still nothing new");
        });

        Step("FetchAsync, SendAsync", () =>
        {
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            var threads = new List<int>();
            Task<string> t = account.FetchAsync("{\"folder\": \"INBOX\", \"only_new\": false}", (info, data) =>
            {
                lock (threads) threads.Add(Thread.CurrentThread.ManagedThreadId);
                return FetchAction.Stop; // the fetch state is left as it is
            });
            Ok(t.Wait(60000) && t.Status == TaskStatus.RanToCompletion && OAuthMailJson.GetBool(t.Result, "stopped_by_callback") == true,
               "FetchAsync completes with the summary", t.Status + " " + (t.Status == TaskStatus.RanToCompletion ? t.Result : ""));
            lock (threads)
                Ok(threads.Count == 1 && threads[0] != mainThread, "the handler ran on the Task's thread, not the caller's");
            Task<string> thrown = account.FetchAsync("{\"folder\": \"INBOX\", \"only_new\": false}",
                                                     (info, data) => { throw new InvalidDataException("the CRM refused it"); });
            try { thrown.Wait(60000); } catch (AggregateException) { }
            Exception handlerError = TaskError(thrown);
            Ok(thrown.IsFaulted && handlerError is InvalidDataException && handlerError.Message == "the CRM refused it",
               "FetchAsync: the handler's exception faults the Task (itself, not a status)",
               handlerError == null ? thrown.Status.ToString() : handlerError.ToString());
            Task<string> send = account.SendAsync("{\"subject\": \"nobody\", \"text\": \"x\"}");
            try { send.Wait(60000); } catch (AggregateException) { }
            var sendError = TaskError(send) as OAuthMailException;
            Ok(send.IsFaulted && sendError != null && sendError.Status == OAuthMailStatus.InvalidArgument,
               "SendAsync of a message without a recipient: the Task faults with OAuthMailException InvalidArgument",
               TaskError(send) == null ? send.Status.ToString() : TaskError(send).ToString());
            var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            Ok(EndsCanceled(account.SendAsync("{\"to\": \"client@example.test\", \"subject\": \"never\", \"text\": \"x\"}", null, cancelled.Token), 10000),
               "SendAsync with a token already cancelled: Canceled, nothing sent");
        });

        Step("fetch to a directory with a non-ASCII name", () =>
        {
            string dir = Path.Combine(workDir, "boîte reçue");
            Directory.CreateDirectory(dir);
            string summary = second.FetchToDirectory(dir, inbox);
            var files = Directory.GetFiles(dir, "*.eml");
            Ok(files.Length == seeded && OAuthMailJson.GetInt64(summary, "delivered") == seeded,
               "FetchToDirectory writes " + seeded + " .eml files into \"boîte reçue\"", summary);
        });

        Step("folders", () =>
        {
            string folders = account.ListFolders();
            var names = OAuthMailJson.GetArrayItems(folders).Select(f => OAuthMailJson.GetString(f, "name")).ToList();
            Ok(names.Contains("INBOX") && names.Contains("Sent"), "ListFolders lists INBOX and Sent", folders);
        });

        // --- sending --------------------------------------------------------------------------
        const string subject = "Devis n°42 – société Élan";
        const string toName = "Jérôme Brûlé";
        int sinkBefore = SinkMessages(sinkDir).Length;
        Step("send", () =>
        {
            string message = "{"
                + "\"to\": " + Q(toName + " <client@example.test>") + ","
                + "\"subject\": " + Q(subject) + ","
                + "\"text\": " + Q("Bonjour,\nveuillez trouver notre devis n°42.\n— Élan\n")
                + "}";
            string result = account.Send(message, "{\"save_to_sent\": true}");
            Ok(!string.IsNullOrEmpty(OAuthMailJson.GetString(result, "message_id")), "Send returns the result JSON with the Message-ID", result);
            Ok(OAuthMailJson.GetString(result, "saved_to") == "Sent", "saved to Sent", result);
            var files = WaitSink(sinkDir, sinkBefore + 1);
            Ok(files.Length == sinkBefore + 1, "the sink received the message");
            if (files.Length > sinkBefore)
            {
                byte[] raw = File.ReadAllBytes(files[files.Length - 1]);
                string gotSubject = DecodeWords(Header(raw, "Subject"));
                string gotTo = DecodeWords(Header(raw, "To"));
                Ok(gotSubject == subject, "the non-ASCII subject arrives intact (RFC 2047)", gotSubject);
                Ok(gotTo != null && gotTo.Contains(toName) && gotTo.Contains("<client@example.test>"),
                   "the non-ASCII display name arrives intact", gotTo);
            }
        });

        Step("send raw and batch", () =>
        {
            byte[] raw = Encoding.UTF8.GetBytes("From: alice@example.test\nTo: client@example.test\nSubject: raw from .NET\n\nraw body\n");
            string result = account.SendRaw(raw);
            Ok(OAuthMailJson.GetInt64(result, "reply_code") == 250, "SendRaw: 250", result);
            string batch = "[" + string.Join(",", new[] { "Facture 1", "Facture 2" }.Select(s =>
                "{\"to\": \"client@example.test\", \"subject\": " + Q(s) + ", \"text\": \"ci-joint\"}")) + "]";
            var results = OAuthMailJson.GetArrayItems(account.SendBatch(batch));
            Ok(results.Count == 2 && results.All(r => OAuthMailJson.GetBool(r, "ok") == true), "SendBatch: two results, both ok", string.Join(" | ", results));
            var files = WaitSink(sinkDir, sinkBefore + 4);
            Ok(files.Length == sinkBefore + 4, "the sink holds the 4 messages sent", files.Length.ToString());
        });

        // --- several processes on one mailbox: the host's token store -----------------------------
        Step("token store", () => TokenStoreScenario(workDir));

        // --- Microsoft Graph as the transport ------------------------------------------------------
        Step("Microsoft Graph", GraphScenario);

        // --- a Google service account: no authorization, tokens from its key -------------------------
        Step("service account", () => ServiceAccountScenario(sinkDir));

        // --- messages parsed, listed, flagged, moved; waiting for mail --------------------------------
        Step("browsing", () => BrowseScenario(workDir));

        // --- cancellation, disposal -------------------------------------------------------------
        Step("cancel from another thread", () =>
        {
            using (var third = new OAuthMailAccount(AccountJson()))
            {
                string url = third.StartAuthorization(false);
                Ok(url != null, "StartAuthorization(openBrowser: false) returns the URL to show");
                OAuthMailException waited = null;
                Exception other = null;
                var worker = new Thread(() =>
                {
                    try { third.WaitAuthorization(30000); }
                    catch (OAuthMailException ex) { waited = ex; }
                    catch (Exception ex) { other = ex; }
                });
                var t0 = DateTime.UtcNow;
                worker.Start();
                Thread.Sleep(300);
                third.Cancel();
                bool joined = worker.Join(10000);
                Ok(joined && waited != null && waited.Status == OAuthMailStatus.Cancelled && (DateTime.UtcNow - t0).TotalSeconds < 10,
                   "Cancel() from another thread: the blocked WaitAuthorization throws OM_STATUS_CANCELLED",
                   waited != null ? waited.ToString() : (other != null ? other.ToString() : "no exception"));
                third.StartAuthorization(false);
                third.CancelAuthorization();
                var ex2 = Catch<OAuthMailException>(() => third.WaitAuthorization(1000));
                Ok(ex2 != null && ex2.Status == OAuthMailStatus.Cancelled, "CancelAuthorization: WaitAuthorization throws OM_STATUS_CANCELLED");
            }
        });

        Step("TokensChanged handler exception", () =>
        {
            int events = 0;
            second.TokensChanged += (s, json) => { events++; throw new IOException("cannot write the tokens table"); };
            var ex = Catch<IOException>(() => second.RevokeTokens());
            Ok(ex != null && events == 1, "an exception of a TokensChanged handler is rethrown by the call (RevokeTokens)",
               ex == null ? "no exception" : null);
            var ex2 = Catch<OAuthMailException>(() => second.GetAccessToken());
            Ok(ex2 != null && ex2.Status == OAuthMailStatus.AuthorizationRequired && ex2.Hint.Length + ex2.Message.Length > 0,
               "after revocation: OM_STATUS_AUTHORIZATION_REQUIRED with a message", ex2 == null ? "no exception" : ex2.ToString());
        });

        Step("dispose", () =>
        {
            second.Dispose();
            second.Dispose();
            Ok(second.Handle.IsClosed, "Dispose frees the handle (twice is harmless)");
            Ok(Catch<ObjectDisposedException>(() => second.ExportTokens()) != null, "a disposed account throws ObjectDisposedException");
            account.Dispose();
            Ok(AccountHandle.LiveCount == 0, "no native account left alive (every om_account_new matched by om_account_free)",
               AccountHandle.LiveCount + " alive");
        });

        Step("log handler replaced and removed", () =>
        {
            var logA = new List<string>();
            var logB = new List<string>();
            OAuthMailLibrary.SetLogHandler((l, m) => { lock (logA) logA.Add(m); }, OAuthMailLogLevel.Info);
            OAuthMailLibrary.SetLogHandler((l, m) => { lock (logB) logB.Add(m); }, OAuthMailLogLevel.Info);
            OAuthMailLibrary.WriteLog(OAuthMailLogLevel.Error, "to the second handler");
            Ok(OAuthMailLibrary.LogHandlersAlive == 1, "replacing the handler releases the previous one (its free function ran)",
               OAuthMailLibrary.LogHandlersAlive.ToString());
            OAuthMailLibrary.SetLogHandler(null, OAuthMailLogLevel.Error);
            Ok(OAuthMailLibrary.LogHandlersAlive == 0, "SetLogHandler(null): the library released the handler before returning",
               OAuthMailLibrary.LogHandlersAlive.ToString());
            OAuthMailLibrary.WriteLog(OAuthMailLogLevel.Error, "after removal");
            lock (logA) lock (logB)
                Ok(!logA.Contains("to the second handler") && logB.Contains("to the second handler") && !logB.Contains("after removal"),
                   "a replaced or removed handler is not called any more",
                   string.Join(", ", logA) + " / " + string.Join(", ", logB));
            var bad = Catch<OAuthMailException>(() => OAuthMailLibrary.SetLogHandler((l, m) => { }, 7));
            Ok(bad != null && bad.Status == OAuthMailStatus.InvalidArgument && OAuthMailLibrary.LogHandlersAlive == 0,
               "a refused level: InvalidArgument, nothing held", bad == null ? "no exception" : bad.ToString());
        });

        OAuthMailLibrary.Shutdown();
        var shut = Catch<OAuthMailException>(() => OAuthMailLibrary.Shutdown());
        Ok(shut != null && shut.Status == OAuthMailStatus.NotInitialized, "Shutdown more often than Init: OM_STATUS_NOT_INITIALIZED");
    }
}

// Retarget.cs — turns OAuthMail.dll compiled against the .NET Framework 4.6.1 reference
// assemblies (the API surface .NET Standard 2.0 was cut from) into a .NET Standard 2.0
// assembly, as csc would have made it against NETStandard.Library's netstandard.dll (not
// reachable here: only Debian's Mono is):
//   - every type reference into mscorlib, System or System.Core is pointed at
//     "netstandard, Version=2.0.0.0, PublicKeyToken=cc7b13ffcd2ddd51", after checking that
//     Mono's reference netstandard.dll (4.7.1-api/Facades) forwards that very type: a type
//     .NET Standard 2.0 lacks fails the build here, naming it;
//   - the framework references are then dropped: netstandard is the only one left.
// Members are not checked one by one (the facade holds no members): compiling against the
// 4.6.1 reference assemblies first keeps to that surface.
//
// Usage: mono Retarget.exe IN.dll NETSTANDARD_FACADE.dll OUT.dll
// Compiled and run by scripts/package.sh with Mono.Cecil from Debian's libmono-cecil-private-cil.

using System;
using System.Collections.Generic;
using System.Linq;
using Mono.Cecil;

static class Retarget
{
    static readonly string[] Framework = { "mscorlib", "System", "System.Core" };

    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: Retarget.exe IN.dll NETSTANDARD_FACADE.dll OUT.dll");
            return 2;
        }
        try
        {
            return Run(args[0], args[1], args[2]);
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine("Retarget: " + ex);
            return 1;
        }
    }

    static int Run(string input, string facadePath, string output)
    {
        var forwarded = new HashSet<string>();
        using (var facade = ModuleDefinition.ReadModule(facadePath))
        {
            if (facade.Assembly.Name.Name != "netstandard" || facade.Assembly.Name.Version != new Version(2, 0, 0, 0))
            {
                Console.Error.WriteLine("Retarget: " + facadePath + " is " + facade.Assembly.Name.FullName + ", not netstandard 2.0.0.0");
                return 1;
            }
            foreach (ExportedType t in facade.ExportedTypes)
                if (t.DeclaringType == null) forwarded.Add(t.FullName);
        }
        if (forwarded.Count < 1000)
        {
            Console.Error.WriteLine("Retarget: " + facadePath + " forwards only " + forwarded.Count + " types: not the netstandard facade");
            return 1;
        }

        var netstandard = new AssemblyNameReference("netstandard", new Version(2, 0, 0, 0))
        {
            PublicKeyToken = new byte[] { 0xcc, 0x7b, 0x13, 0xff, 0xcd, 0x2d, 0xdd, 0x51 },
        };

        var missing = new SortedSet<string>();
        int moved = 0;
        using (var module = ModuleDefinition.ReadModule(input, new ReaderParameters { ReadWrite = false, InMemory = true }))
        {
            module.AssemblyReferences.Add(netstandard);
            foreach (TypeReference t in module.GetTypeReferences().ToList())
            {
                if (t.DeclaringType != null) continue; // nested: resolved through its outer type
                var scope = t.Scope as AssemblyNameReference;
                if (scope == null || Array.IndexOf(Framework, scope.Name) < 0) continue;
                if (!forwarded.Contains(t.FullName))
                {
                    missing.Add(t.FullName + " (from " + scope.Name + ")");
                    continue;
                }
                t.Scope = netstandard;
                moved++;
            }
            if (missing.Count > 0)
            {
                Console.Error.WriteLine("Retarget: not in .NET Standard 2.0: " + string.Join(", ", missing));
                return 1;
            }
            foreach (AssemblyNameReference r in module.AssemblyReferences.ToList())
                if (Array.IndexOf(Framework, r.Name) >= 0) module.AssemblyReferences.Remove(r);
            string left = string.Join(", ", module.AssemblyReferences.Select(r => r.Name));
            if (left != "netstandard")
            {
                Console.Error.WriteLine("Retarget: references left besides netstandard: " + left);
                return 1;
            }
            module.Write(output);
        }
        Console.WriteLine("Retarget: " + moved + " type references now point at netstandard 2.0.0.0");
        return 0;
    }
}

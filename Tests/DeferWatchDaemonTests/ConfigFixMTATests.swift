import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The configuration fixes are checked by the MTAs themselves: Postfix's `postconf -n`
/// (and `postconf -M`, `-P`, `postmap`) read the generated main.cf, master.cf and transport
/// table in a configuration directory of their own, Exim's `exim -bV` the generated router,
/// transport and retry rules in a minimal whole configuration. Any warning fails the test
/// (postconf says "unused parameter" for a per-transport parameter of a transport master.cf
/// lacks, or an -o option it does not know).
///
/// The MTAs are not installed for these tests (Postfix and Exim exclude each other, and the
/// Swift tests run before the end-to-end test installs them): scripts/test unpacks Debian's
/// postfix, exim4-base and exim4-daemon-light packages into .build/tools, and the binaries
/// run from there, with their users (postfix, Debian-exim, nobody) from a passwd file of the
/// test's own through nss_wrapper (libnss-wrapper). A missing tool fails the test, saying so.
@Suite struct ConfigFixMTATests {
    static let hints = HintBook.builtin(providers: RuleSet.builtin().providers)
    static let now: Int64 = 1_795_824_000_000_000 + 60_000_000

    /// The unpacked tools and the environment to run them in.
    struct Tools {
        var root: URL
        var nssWrapper: String
        var dir: URL

        func path(_ p: String) -> URL { root.appendingPathComponent(p) }

        var environment: [String: String] {
            [
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C",
                "LD_LIBRARY_PATH": path("usr/lib/postfix").path,
                "LD_PRELOAD": nssWrapper,
                "NSS_WRAPPER_PASSWD": dir.appendingPathComponent("passwd").path,
                "NSS_WRAPPER_GROUP": dir.appendingPathComponent("group").path,
            ]
        }

        func run(_ tool: String, _ args: [String]) throws -> ProcessResult {
            try ProcessRunner.run(path(tool), args, environment: environment)
        }
    }

    /// The tools, or a failed requirement that says how to get them.
    static func tools(_ name: String) throws -> Tools {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["DEFERWATCH_MTA_TOOLS"]
            ?? TestPaths.packageRoot.appendingPathComponent(".build/tools").path)
        for tool in ["usr/sbin/postconf", "usr/sbin/postmap", "usr/sbin/exim4"] {
            try #require(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent(tool).path),
                         "\(root.path)/\(tool) is missing: scripts/test unpacks Debian's postfix, exim4-base and exim4-daemon-light packages there (apt-get download; dpkg-deb -x)")
        }
        let wrapper = ["/usr/lib/x86_64-linux-gnu/libnss_wrapper.so", "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so", "/usr/lib/libnss_wrapper.so"]
            .first { FileManager.default.fileExists(atPath: $0) }
        let nss = try #require(wrapper, "libnss_wrapper.so is missing: apt-get install libnss-wrapper (scripts/test installs it)")
        let dir = TestPaths.temporaryDirectory(name)
        // The users the tools look up: Postfix's mail_owner, setgid_group and default_privs,
        // Exim's compiled-in user.
        try """
            root:x:0:0:root:/root:/bin/sh
            postfix:x:64001:64001::/nonexistent:/usr/sbin/nologin
            Debian-exim:x:64002:64002::/nonexistent:/usr/sbin/nologin
            nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin

            """.write(to: dir.appendingPathComponent("passwd"), atomically: true, encoding: .utf8)
        try """
            root:x:0:
            postfix:x:64001:
            Debian-exim:x:64002:
            postdrop:x:64003:
            nogroup:x:65534:

            """.write(to: dir.appendingPathComponent("group"), atomically: true, encoding: .utf8)
        return Tools(root: root, nssWrapper: nss, dir: dir)
    }

    /// The fixes to check, for one MTA: each cause with a fix, a provider with one domain
    /// list and one with many, a domain alert on one host, and the values' extremes.
    static func fixes(_ mta: MTA) throws -> [ConfigFix] {
        let alerts: [Alert] = [
            try FixtureAlert.make(id: 1, cause: .rateLimit, mta: mta, scope: .provider, name: "google", provider: "google"),
            try FixtureAlert.make(id: 2, cause: .rateLimit, mta: mta, scope: .provider, name: "microsoft", provider: "microsoft", attempts: 10_000, deferrals: 10),
            try FixtureAlert.make(id: 3, cause: .rateLimit, mta: mta, scope: .domain, name: "example.org", domain: "example.org", attempts: 500, deferrals: 500),
            try FixtureAlert.make(id: 4, cause: .connectionLimit, mta: mta, scope: .domain, name: "mail.example.co.uk", domain: "mail.example.co.uk", host: "mx1.example.net"),
            try FixtureAlert.make(id: 5, cause: .connectionLimit, mta: mta, scope: .provider, name: "united-internet", provider: "united-internet"),
            try FixtureAlert.make(id: 6, cause: .mailbox, mta: mta, scope: .domain, name: "lists.example.com", domain: "lists.example.com",
                                  sample: "452 4.5.3 Too many recipients"),
        ]
        let fixes = alerts.compactMap { hints.fix(for: $0, window: 15 * 60_000_000, now: now) }
        try #require(fixes.count == alerts.count)
        return fixes
    }

    /// One main.cf line as `postconf -n` prints it.
    static func parameters(_ text: String) -> [String] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains(" = ") }.map(String.init)
    }

    /// Debian's own master.cf, as the package installs it: the base the fix's line joins.
    static func masterBase(_ tools: Tools) throws -> String {
        try String(contentsOf: tools.path("usr/share/postfix/master.cf.dist"), encoding: .utf8)
    }

    /// postconf -n, -M and -P read the fix's main.cf and master.cf (with Debian's), postmap
    /// builds its transport table: no warning, and each reads back what the fix says.
    static func checkPostfix(_ fix: ConfigFix, tools: Tools) throws {
        let base = try masterBase(tools)
        let dir = tools.dir.appendingPathComponent("postfix-\(fix.alert)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let files = Dictionary(uniqueKeysWithValues: fix.files.map { ($0.path, $0.text) })
        let main = try #require(files["/etc/postfix/main.cf"])
        let master = try #require(files["/etc/postfix/master.cf"])
        let table = try #require(files["/etc/postfix/transport"])
        try main.write(to: dir.appendingPathComponent("main.cf"), atomically: true, encoding: .utf8)
        try (base + master).write(to: dir.appendingPathComponent("master.cf"), atomically: true, encoding: .utf8)
        try table.write(to: dir.appendingPathComponent("transport"), atomically: true, encoding: .utf8)
        // Postfix's directories: the unpacked ones, and no meta directory of an installed
        // Postfix (this test passes with and without one).
        let o = ["-o", "meta_directory=\(dir.path)", "-o", "shlib_directory=\(tools.path("usr/lib/postfix").path)",
                 "-o", "daemon_directory=\(tools.path("usr/lib/postfix/sbin").path)"]

        let n = try tools.run("usr/sbin/postconf", ["-c", dir.path] + o + ["-n"])
        #expect(n.status == 0 && n.stderr.isEmpty, "postconf -n on the fix of alert \(fix.alert): \(n.stderr)\n\(fix.snippet)")
        for line in parameters(main) {
            #expect(n.stdoutText.contains(line + "\n"), "postconf -n lacks \(line): \(n.stdoutText)")
        }
        let m = try tools.run("usr/sbin/postconf", ["-c", dir.path] + o + ["-M", "\(fix.transport)/unix"])
        #expect(m.status == 0 && m.stderr.isEmpty, "postconf -M: \(m.stderr)")
        #expect(m.stdoutText.hasPrefix("\(fix.transport) ") && m.stdoutText.contains(" smtp"), "postconf -M: \(m.stdoutText)")
        let p = try tools.run("usr/sbin/postconf", ["-c", dir.path] + o + ["-P"])
        #expect(p.status == 0 && p.stderr.isEmpty, "postconf -P: \(p.stderr)")
        if let limit = fix.values.messagesPerConnection {
            #expect(p.stdoutText.contains("\(fix.transport)/unix/smtp_connection_reuse_count_limit = \(limit)\n"), "\(p.stdoutText)")
        }

        // The transport table: postmap builds it, and each domain finds the transport.
        let tablePath = "hash:" + dir.appendingPathComponent("transport").path
        let pm = try tools.run("usr/sbin/postmap", ["-c", dir.path, tablePath])
        #expect(pm.status == 0 && pm.stderr.isEmpty, "postmap: \(pm.stderr)")
        for d in fix.domains {
            let q = try tools.run("usr/sbin/postmap", ["-c", dir.path, "-q", d, tablePath])
            #expect(q.stdoutText == "\(fix.transport):\n", "postmap -q \(d): \(q.stdoutText) \(q.stderr)")
        }
    }

    @Test func postconfAcceptsThePostfixFixes() throws {
        let tools = try Self.tools("postconf")
        defer { try? FileManager.default.removeItem(at: tools.dir) }
        for fix in try Self.fixes(.postfix) { try Self.checkPostfix(fix, tools: tools) }
        // The check itself fails on a fix it should refuse: a parameter of a transport
        // master.cf lacks.
        let dir = tools.dir.appendingPathComponent("postfix-bad")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "slow_nowhere_destination_rate_delay = 5s\n".write(to: dir.appendingPathComponent("main.cf"), atomically: true, encoding: .utf8)
        try Self.masterBase(tools).write(to: dir.appendingPathComponent("master.cf"), atomically: true, encoding: .utf8)
        let bad = try tools.run("usr/sbin/postconf", ["-c", dir.path, "-o", "meta_directory=\(dir.path)", "-n"])
        #expect(bad.stderr.contains("unused parameter: slow_nowhere_destination_rate_delay"), "\(bad.stderr)")
    }

    /// A minimal whole Exim configuration around a fix's parts: the fix's router before
    /// dnslookup, its transport beside remote_smtp, its retry rules before Debian's default.
    static func eximConfiguration(_ fix: ConfigFix, dir: URL) throws -> String {
        let files = Dictionary(uniqueKeysWithValues: fix.files.map { ($0.path.split(separator: "/").dropLast().last.map(String.init) ?? "", $0.text) })
        let router = try #require(files["router"])
        let transport = try #require(files["transport"])
        return """
            primary_hostname = deferwatch.test
            keep_environment =
            spool_directory = \(dir.path)/spool
            log_file_path = \(dir.path)/log/%slog
            domainlist local_domains = @ : localhost

            begin routers

            \(router)
            dnslookup:
              driver = dnslookup
              domains = ! +local_domains
              transport = remote_smtp
              ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
              no_more

            begin transports

            remote_smtp:
              driver = smtp

            \(transport)
            begin retry

            \(files["retry"] ?? "")*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h

            """
    }

    @Test func eximAcceptsTheEximFixes() throws {
        let tools = try Self.tools("exim")
        defer { try? FileManager.default.removeItem(at: tools.dir) }
        for fix in try Self.fixes(.exim) {
            let dir = tools.dir.appendingPathComponent("exim-\(fix.alert)")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("log"), withIntermediateDirectories: true)
            let conf = dir.appendingPathComponent("exim.conf")
            try Self.eximConfiguration(fix, dir: dir).write(to: conf, atomically: true, encoding: .utf8)
            let v = try tools.run("usr/sbin/exim4", ["-C", conf.path, "-bV"])
            #expect(v.status == 0 && v.stderr.isEmpty, "exim -bV on the fix of alert \(fix.alert): \(v.stderr)\n\(fix.snippet)")
            #expect(v.stdoutText.hasPrefix("Exim version 4."), "\(v.stdoutText.prefix(200))")

            // What Exim read: the router for the fix's domains, with its transport; the
            // transport's values; the retry rule for each domain ahead of the default.
            let r = try tools.run("usr/sbin/exim4", ["-C", conf.path, "-bP", "router", fix.transport])
            #expect(r.stdoutText.contains("\ndomains = \(fix.domains.joined(separator: " : "))\n"), "\(r.stdoutText)")
            #expect(r.stdoutText.contains("\ntransport = \(fix.transport)\n"), "\(r.stdoutText)")
            let t = try tools.run("usr/sbin/exim4", ["-C", conf.path, "-bP", "transport", fix.transport])
            #expect(t.status == 0 && t.stderr.isEmpty, "\(t.stderr)")
            if let c = fix.values.concurrency { #expect(t.stdoutText.contains("\nmax_parallel = \(c)\n"), "\(t.stdoutText)") }
            if let k = fix.values.recipientLimit { #expect(t.stdoutText.contains("\nmax_rcpt = \(k)\n"), "\(t.stdoutText)") }
            if let m = fix.values.messagesPerConnection { #expect(t.stdoutText.contains("\nconnection_max_messages = \(m)\n"), "\(t.stdoutText)") }
            for d in fix.domains {
                let rt = try tools.run("usr/sbin/exim4", ["-C", conf.path, "-brt", d])
                let expected = fix.values.retryMinutes.map { "Retry rule: \(d)  *  F,2h,\($0 % 60 == 0 ? "\($0 / 60)h" : "\($0)m"); G,16h,1h,1.5; F,4d,6h; " }
                    ?? "Retry rule: *  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h; "
                #expect(rt.stdoutText.trimmingCharacters(in: .newlines) == expected, "exim -brt \(d): \(rt.stdoutText) \(rt.stderr)")
            }
        }
        // The check itself fails on a configuration Exim refuses.
        let dir = tools.dir.appendingPathComponent("exim-bad")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let conf = dir.appendingPathComponent("exim.conf")
        try "keep_environment =\nspool_directory = \(dir.path)/spool\nserialize_hosts = *\n".write(to: conf, atomically: true, encoding: .utf8)
        let bad = try tools.run("usr/sbin/exim4", ["-C", conf.path, "-bV"])
        #expect(bad.status != 0 && bad.stderr.contains("main option \"serialize_hosts\" unknown"), "\(bad.stderr)")
    }
}

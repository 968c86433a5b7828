import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// `deferwatch check` and the system resolver against a real DNS server (dnsmasq on
/// loopback, serving zones the test writes), and against one that never answers.
@Suite(.serialized) struct DNSCheckTests {
    static let records = [
        // 203.0.113.5: PTR mail.example.org, forward-confirmed (host-record makes both).
        "host-record=mail.example.org,203.0.113.5",
        // 203.0.113.6: an ISP's generic name that has no address.
        "ptr-record=6.113.0.203.in-addr.arpa,dsl-203-0-113-6.pool.example.net",
        // 203.0.113.8: a PTR name whose address is another.
        "ptr-record=8.113.0.203.in-addr.arpa,relay.example.org",
        "address=/relay.example.org/203.0.113.99",
        "mx-host=example.org,mail.example.org,10",
        "txt-record=_dmarc.example.org,\"v=DMARC1; p=reject; aspf=s\"",
        "txt-record=s1._domainkey.example.org,\"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\"",
        "txt-record=old._domainkey.example.org,\"v=DKIM1; k=rsa; p=\"",
        "mx-host=example.net,mx.example.net,10",
        "host-record=mx.example.net,198.51.100.25",
        "txt-record=_dmarc.quarantine.example.net,\"v=DMARC1; p=quarantine\"",
        "mx-host=quarantine.example.net,mx.example.net,10",
        "host-record=aonly.example.net,198.51.100.26",
        // A DNS blocklist: .6 listed with its reason, .9 answered with the "refused" code.
        "address=/6.113.0.203.bl.test/127.0.0.2",
        "txt-record=6.113.0.203.bl.test,\"listed: hit a spam trap, see https://bl.test/203.0.113.6\"",
        "address=/9.113.0.203.bl.test/127.255.255.254",
        // SPF: a pass by ip4 and by a, an include that soft-fails, a redirect, an mx.
        "txt-record=example.org,\"v=spf1 ip4:203.0.113.5 -all\"",
        "txt-record=mail.example.org,\"v=spf1 a -all\"",
        "txt-record=soft.example.net,\"v=spf1 include:_spf.example.net ~all\"",
        "txt-record=_spf.example.net,\"v=spf1 ip4:198.51.100.0/24 -all\"",
        "txt-record=redirect.example.net,\"v=spf1 redirect=example.org\"",
        "txt-record=mxspf.example.net,\"v=spf1 mx -all\"",
        "mx-host=mxspf.example.net,mail.example.org,10",
    ]

    static func server() throws -> DnsmasqServer {
        try DnsmasqServer(zones: ["example.org", "example.net", "113.0.203.in-addr.arpa", "bl.test"], records: records)
    }

    static func resolver(_ server: String, timeout: Int64 = 2_000_000, attempts: Int = 2) throws -> SystemResolver {
        var c = DNSConfig()
        c.servers = [DNSServer(parsing: server)!]
        c.timeout = timeout
        c.attempts = attempts
        return try SystemResolver(config: c)
    }

    func short(_ f: [Finding]) -> [String] { f.map(\.short) }

    @Test func theResolverReadsEveryRecordTypeWithItsTTL() throws {
        let dns = try Self.server()
        let r = try Self.resolver(dns.server)
        #expect(r.query("mail.example.org", .a) == .records([DNSRecord(.a, "203.0.113.5", ttl: 300)]))
        #expect(r.query("5.113.0.203.in-addr.arpa", .ptr).records.map(\.value) == ["mail.example.org"])
        #expect(r.query("example.org", .mx).records.map(\.value) == ["10 mail.example.org"])
        #expect(r.query("_dmarc.example.org", .txt).records.map(\.value) == ["v=DMARC1; p=reject; aspf=s"])
        #expect(r.query("nothing.example.org", .a) == .nxdomain)
        #expect(r.query("mx.example.net", .txt) == .noData)
        #expect(r.query("a..b", .a) == .failed("not a valid domain name"))
    }

    @Test func reverseDNSAndHELO() throws {
        let dns = try Self.server()
        let c = IdentityChecker(resolver: try Self.resolver(dns.server))
        #expect(short(c.reverseDNS(IPAddress("203.0.113.5")!)) == ["ptr=ok", "fcrdns=ok"])
        #expect(short(c.reverseDNS(IPAddress("203.0.113.6")!)) == ["ptr=ok", "fcrdns=fail", "ptr=generic"])
        #expect(short(c.reverseDNS(IPAddress("203.0.113.7")!)) == ["ptr=missing"])
        let notConfirmed = c.reverseDNS(IPAddress("203.0.113.8")!)
        #expect(short(notConfirmed) == ["ptr=ok", "fcrdns=fail"])
        #expect(notConfirmed[1].evidence.contains("relay.example.org A 203.0.113.99 (ttl 300)"), "\(notConfirmed[1].evidence)")
        let ip = [IPAddress("203.0.113.5")!]
        #expect(c.helo("mail.example.org", ips: ip).short == "helo=ok")
        #expect(c.helo("nohost.example.org", ips: ip).short == "helo=unresolved")
        #expect(c.helo("relay.example.org", ips: ip).short == "helo=mismatch")
    }

    @Test func senderDomains() throws {
        let dns = try Self.server()
        let c = IdentityChecker(resolver: try Self.resolver(dns.server))
        #expect(c.mail("example.org").short == "mx=ok")
        #expect(c.mail("aonly.example.net").short == "mx=a-only")
        #expect(c.mail("missing.example.org").short == "mx=nxdomain")
        #expect(c.dmarc("example.org").short == "dmarc=reject")
        #expect(c.dmarc("quarantine.example.net").short == "dmarc=quarantine")
        // No record of its own: the organisational domain's (example.net has none either).
        #expect(c.dmarc("aonly.example.net").short == "dmarc=none")
        #expect(c.dmarc("news.example.org").short == "dmarc=reject")
        #expect(c.dkim("example.org", selector: "s1").short == "dkim=ok")
        #expect(c.dkim("example.org", selector: "old").short == "dkim=revoked")
        #expect(c.dkim("example.org", selector: "s2").short == "dkim=missing")
    }

    @Test func spfThroughARealServer() throws {
        let dns = try Self.server()
        let c = IdentityChecker(resolver: try Self.resolver(dns.server), spf: LibSPF2())
        let ip = IPAddress("203.0.113.5")!
        let pass = c.spf("example.org", ip: ip, helo: nil, evaluator: LibSPF2())
        #expect(pass.short == "spf=pass", "\(pass)")
        #expect(pass.evidence.contains("example.org TXT v=spf1 ip4:203.0.113.5 -all (ttl 300)"), "\(pass.evidence)")
        #expect(c.spf("example.org", ip: IPAddress("203.0.113.7")!, helo: nil, evaluator: LibSPF2()).short == "spf=fail")
        let soft = c.spf("soft.example.net", ip: ip, helo: nil, evaluator: LibSPF2())
        #expect(soft.short == "spf=softfail")
        #expect(soft.evidence.contains("_spf.example.net TXT v=spf1 ip4:198.51.100.0/24 -all (ttl 300)"), "\(soft.evidence)")
        #expect(c.spf("redirect.example.net", ip: ip, helo: nil, evaluator: LibSPF2()).short == "spf=pass")
        #expect(c.spf("mxspf.example.net", ip: ip, helo: nil, evaluator: LibSPF2()).short == "spf=pass")
        // The mechanism that decided, through includes, redirects and mx.
        #expect(pass.summary.hasSuffix("decided by ip4:203.0.113.5 of example.org"), "\(pass.summary)")
        #expect(soft.summary.hasSuffix("decided by ~all of soft.example.net"), "\(soft.summary)")
        #expect(c.spf("example.org", ip: IPAddress("203.0.113.7")!, helo: nil, evaluator: LibSPF2()).summary.hasSuffix("decided by -all of example.org"))
        #expect(c.spf("redirect.example.net", ip: ip, helo: nil, evaluator: LibSPF2()).summary
                .hasSuffix("decided by redirect=example.org of redirect.example.net -> ip4:203.0.113.5 of example.org"))
        #expect(c.spf("mxspf.example.net", ip: ip, helo: nil, evaluator: LibSPF2()).summary.hasSuffix("decided by mx of mxspf.example.net"))
        #expect(c.spf("soft.example.net", ip: IPAddress("198.51.100.9")!, helo: nil, evaluator: LibSPF2()).summary
                .hasSuffix("decided by include:_spf.example.net of soft.example.net -> ip4:198.51.100.0/24 of _spf.example.net"))
        #expect(c.spf("aonly.example.net", ip: ip, helo: nil, evaluator: LibSPF2()).short == "spf=none")
        #expect(c.spf("mail.example.org", ip: ip, helo: "mail.example.org", evaluator: LibSPF2(), check: "spf-helo").short == "spf-helo=pass")
    }

    @Test func blocklists() throws {
        let dns = try Self.server()
        let c = IdentityChecker(resolver: try Self.resolver(dns.server))
        let listed = c.blocklist(IPAddress("203.0.113.6")!, zone: "bl.test")
        #expect(listed.short == "dnsbl=listed")
        #expect(listed.summary.contains("127.0.0.2") && listed.summary.contains("spam trap"), "\(listed.summary)")
        #expect(c.blocklist(IPAddress("203.0.113.5")!, zone: "bl.test").short == "dnsbl=ok")
        #expect(c.blocklist(IPAddress("203.0.113.9")!, zone: "bl.test").short == "dnsbl=refused")
    }

    @Test func aServerThatNeverAnswersGivesUnknown() throws {
        let silent = try SilentDNSServer()
        let c = IdentityChecker(resolver: try Self.resolver(silent.server, timeout: 1_000_000, attempts: 1))
        // Every query waits out its one-second try: few of them.
        let all = c.findings(ips: [IPAddress("203.0.113.5")!], helo: nil, domains: ["example.org"], selectors: [])
        #expect(!all.isEmpty)
        #expect(all.allSatisfy { $0.verdict == .unknown }, "\(all.map(\.short))")
        #expect(all[0].evidence.first?.contains("timed out") == true, "\(all[0].evidence)")
    }

    @Test func theCommandPrintsFindingsAndExitsFiveOnAProblem() throws {
        let dns = try Self.server()
        let dir = TestPaths.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("deferwatch.toml")
        try """
        [identity]
        addresses = ["203.0.113.5"]
        helo = "mail.example.org"
        domains = ["example.org"]
        dkim_selectors = ["s1"]
        [dns]
        servers = ["\(dns.server)"]
        timeout = "1s"

        """.write(to: config, atomically: true, encoding: .utf8)
        // From the configuration alone: everything in order.
        let good = try ProcessRunner.deferwatch(["check", "--config", config.path, "--json"])
        #expect(good.status == 0, "\(good.stdoutText)\(good.stderr)")
        let lines = good.stdoutText.split(separator: "\n")
        // ptr, fcrdns, helo, spf-helo, spf, mx, dmarc, dkim.
        #expect(lines.count == 8, "\(good.stdoutText)")
        for line in lines {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(o["verdict"] as? String == "ok", "\(line)")
            #expect((o["evidence"] as? [String])?.isEmpty == false, "\(line)")
        }
        // The command line replaces the configured identity: a missing PTR is a problem.
        let bad = try ProcessRunner.deferwatch(["check", "--config", config.path, "--ip", "203.0.113.7"])
        #expect(bad.status == 5, "\(bad.stdoutText)\(bad.stderr)")
        #expect(bad.stdoutText.hasPrefix("problem ptr"), "\(bad.stdoutText)")
        #expect(bad.stdoutText.contains("fix:"), "\(bad.stdoutText)")
        // Bad usage and a bad configuration.
        let nothing = try ProcessRunner.deferwatch(["check", "--config", dir.appendingPathComponent("none.toml").path])
        #expect(nothing.status == 2)
        let badConfig = dir.appendingPathComponent("bad.toml")
        try "[dns]\nservers = [\"[::1]:53\"]\n".write(to: badConfig, atomically: true, encoding: .utf8)
        let refused = try ProcessRunner.deferwatch(["check", "--config", badConfig.path, "--ip", "203.0.113.5"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("bad.toml:2"), "\(refused.stderr)")
    }

    @Test func withoutAnIdentityTheCommandLearnsItFromTheLogs() throws {
        let dns = try Self.server()
        let dir = TestPaths.temporaryDirectory("check-from")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("deferwatch.toml")
        try "[dns]\nservers = [\"\(dns.server)\"]\ntimeout = \"1s\"\n".write(to: config, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("mail.log")
        var text = ""
        for i in 1...3 {
            let q = String(format: "E%09X", i)
            text += "2026-12-01T10:00:0\(i)Z mx1 postfix/qmgr[2]: \(q): from=<shop@example.org>, size=900, nrcpt=1 (queue active)\n"
            text += "2026-12-01T10:01:0\(i)Z mx1 postfix/smtp[3]: \(q): to=<u\(i)@example.com>, relay=mx.example.com[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=4.7.25, status=deferred (host mx.example.com[192.0.2.9] said: 450 4.7.25 Client host rejected: cannot find your reverse hostname, [203.0.113.7] (in reply to RCPT TO command))\n"
        }
        try text.write(to: log, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["check", "--config", config.path, "--from", log.path])
        #expect(r.status == 5, "\(r.stdoutText)\(r.stderr)")
        #expect(r.stderr.contains("addresses from the logs: 203.0.113.7 (named in 3 deferral replies)"), "\(r.stderr)")
        #expect(r.stderr.contains("sender domains from the logs: example.org (3 deferrals)"), "\(r.stderr)")
        #expect(r.stdoutText.contains("problem ptr         203.0.113.7"), "\(r.stdoutText)")
        #expect(r.stdoutText.contains("problem spf         example.org for 203.0.113.7"), "\(r.stdoutText)")
        #expect(r.stdoutText.contains("decided by -all of example.org"), "\(r.stdoutText)")
    }
}

/// What the host's MTA configuration says of the sending identity.
@Suite struct HostIdentityTests {
    @Test func postfixAndEximSettingsAreRead() throws {
        let dir = TestPaths.temporaryDirectory("host-identity")
        defer { try? FileManager.default.removeItem(at: dir) }
        let main = dir.appendingPathComponent("main.cf")
        try "# comment\nmyhostname = mx1.example.org\nsmtp_bind_address = 203.0.113.5\nsmtp_helo_name = $myhostname\n"
            .write(to: main, atomically: true, encoding: .utf8)
        let postfix = LearnedIdentity.ofHost(postfixMainCF: main.path, eximMacros: [])
        #expect(postfix.hostAddresses.map(\.description) == ["203.0.113.5"])
        #expect(postfix.hostAddressesFrom == "Postfix smtp_bind_address")
        // smtp_helo_name is an expansion: not followed; myhostname is literal.
        #expect(postfix.helo == "mx1.example.org")
        #expect(postfix.heloFrom == "Postfix myhostname")

        let macros = dir.appendingPathComponent("exim4.conf.localmacros")
        try "REMOTE_SMTP_INTERFACE = 198.51.100.7 : 2001:db8::7\nREMOTE_SMTP_HELO_DATA = out.example.net\n"
            .write(to: macros, atomically: true, encoding: .utf8)
        let exim = LearnedIdentity.ofHost(postfixMainCF: dir.appendingPathComponent("none").path, eximMacros: [macros.path])
        #expect(exim.hostAddresses.map(\.description) == ["198.51.100.7", "2001:db8::7"])
        #expect(exim.hostAddressesFrom == "Exim REMOTE_SMTP_INTERFACE")
        #expect(exim.helo == "out.example.net")
        // Hostile content is skipped, not trusted.
        try String(repeating: "x", count: 100_000).appending("\n= =\n\u{0}\n").write(to: macros, atomically: true, encoding: .utf8)
        let junk = LearnedIdentity.ofHost(postfixMainCF: macros.path, eximMacros: [macros.path])
        #expect(junk.hostAddressesFrom != "Exim REMOTE_SMTP_INTERFACE")
    }
}

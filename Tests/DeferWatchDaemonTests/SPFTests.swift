import DeferWatchCore
import DeferWatchDaemon
import Testing

/// libspf2's evaluation with its lookups answered by recorded DNS answers: the chains and
/// limits of RFC 7208 (the real DNS server's SPF test is in DNSCheckTests).
@Suite struct SPFTests {
    let ip = IPAddress("203.0.113.5")!

    func result(_ r: RecordedResolver, _ domain: String, ip: IPAddress? = nil) -> SPFOutcome {
        LibSPF2().evaluate(ip: ip ?? self.ip, sender: "postmaster@\(domain)", helo: nil, resolver: r)
    }

    @Test func resultsThroughIncludeRedirectAndMechanisms() {
        var r = RecordedResolver()
        r.add("pass.example", .txt, "v=spf1 ip4:203.0.113.0/24 -all")
        r.add("fail.example", .txt, "v=spf1 ip4:198.51.100.1 -all")
        r.add("soft.example", .txt, "v=spf1 include:inc.example ~all")
        r.add("inc.example", .txt, "v=spf1 ip4:198.51.100.0/24 -all")
        r.add("neutral.example", .txt, "v=spf1 ?all")
        r.add("redirect.example", .txt, "v=spf1 redirect=pass.example")
        r.add("a.example", .txt, "v=spf1 a:host.a.example -all")
        r.add("host.a.example", .a, "203.0.113.5")
        r.add("v6.example", .txt, "v=spf1 ip6:2001:db8::/32 -all")
        r.add("other.example", .txt, "some verification token")
        #expect(result(r, "pass.example").result == .pass)
        #expect(result(r, "fail.example").result == .fail)
        let soft = result(r, "soft.example")
        #expect(soft.result == .softfail)
        #expect(soft.seen.contains("inc.example TXT v=spf1 ip4:198.51.100.0/24 -all (ttl 300)"), "\(soft.seen)")
        #expect(result(r, "neutral.example").result == .neutral)
        #expect(result(r, "redirect.example").result == .pass)
        #expect(result(r, "a.example").result == .pass)
        #expect(result(r, "v6.example", ip: IPAddress("2001:db8::25")!).result == .pass)
        #expect(result(r, "other.example").result == SPFResult.none)
        #expect(result(r, "missing.example").result == SPFResult.none)
    }

    @Test func brokenRecordsArePermerrors() {
        var r = RecordedResolver()
        // Eleven includes deep: past the limit of 10 DNS-querying mechanisms.
        for i in 0..<11 { r.add("l\(i).example", .txt, "v=spf1 include:l\(i + 1).example -all") }
        r.add("l11.example", .txt, "v=spf1 ip4:203.0.113.5 -all")
        r.add("syntax.example", .txt, "v=spf1 ip4:203.0.113.5 foo:bar -all")
        r.add("two.example", .txt, "v=spf1 -all", "v=spf1 +all")
        r.add("noinclude.example", .txt, "v=spf1 include:nothing.example -all")
        let deep = result(r, "l0.example")
        #expect(deep.result == .permerror, "\(deep)")
        #expect(deep.errors.last?.contains("more than the 10") == true, "\(deep.errors)")
        // Ten is allowed.
        #expect(result(r, "l1.example").result == .pass)
        // Three includes of names that do not exist: void lookups past the limit of two
        // (each include also fails on its own: a permerror either way).
        r.add("voids.example", .txt, "v=spf1 a:n1.example a:n2.example a:n3.example ip4:203.0.113.5 -all")
        let voids = result(r, "voids.example")
        #expect(voids.result == .permerror, "\(voids)")
        #expect(voids.errors.last?.contains("void lookups") == true, "\(voids.errors)")
        r.add("twovoids.example", .txt, "v=spf1 a:n1.example a:n2.example ip4:203.0.113.5 -all")
        #expect(result(r, "twovoids.example").result == .pass)
        let syn = result(r, "syntax.example")
        #expect(syn.result == .permerror, "\(syn)")
        #expect(result(r, "two.example").result == .permerror)
        #expect(result(r, "noinclude.example").result == .permerror)
    }

    @Test func aLookupWithoutAnswerIsATemperrorAndUnknown() {
        var r = RecordedResolver()
        r.set("slow.example", .txt, .failed("timed out"))
        let slow = result(r, "slow.example")
        #expect(slow.result == .temperror, "\(slow)")
        let f = IdentityChecker(resolver: r).spf("slow.example", ip: ip, helo: nil, evaluator: LibSPF2())
        #expect(f.verdict == .unknown)
    }

    @Test func findingsSayWhatToAdd() {
        var r = RecordedResolver()
        r.add("fail.example", .txt, "v=spf1 ip4:198.51.100.1 -all")
        let f = IdentityChecker(resolver: r).spf("fail.example", ip: ip, helo: nil, evaluator: LibSPF2())
        #expect(f.verdict == .problem)
        #expect(f.fix?.contains("ip4:203.0.113.5") == true, "\(f.fix ?? "")")
        #expect(f.evidence.first == "fail.example TXT v=spf1 ip4:198.51.100.1 -all (ttl 300)", "\(f.evidence)")
    }
}

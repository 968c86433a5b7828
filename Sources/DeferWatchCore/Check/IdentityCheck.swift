/// One thing found about the sending identity: what was checked, of what, the verdict, the
/// records that decided it (with their TTL) and what to change.
public struct Finding: Sendable, Equatable {
    public enum Verdict: String, Sendable, Comparable {
        case ok, unknown, problem

        public static func < (a: Self, b: Self) -> Bool {
            let order: [Self] = [.ok, .unknown, .problem]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    /// `ptr`, `fcrdns`, `generic-ptr`, `helo`, `mx`, `dmarc`, `dkim`, `dnsbl`, `rhsbl`.
    public var check: String
    /// The address or name checked.
    public var subject: String
    public var verdict: Verdict
    /// One line: what was found.
    public var summary: String
    public var evidence: [String]
    /// What to change (problems), or nil.
    public var fix: String?
    /// The short form for an alert line (`ptr=missing`).
    public var short: String

    public init(check: String, subject: String, verdict: Verdict, summary: String, evidence: [String],
                fix: String? = nil, short: String) {
        self.check = check
        self.subject = subject
        self.verdict = verdict
        self.summary = summary
        self.evidence = evidence
        self.fix = fix
        self.short = short
    }
}

/// The DNS checks of a sending identity: pure functions of what `resolver` answers.
public struct IdentityChecker {
    public let resolver: any DNSResolver
    /// SPF's evaluation (libspf2 in the daemon); nil: SPF is not checked.
    public var spfEvaluator: (any SPFEvaluator)?

    public init(resolver: any DNSResolver, spf: (any SPFEvaluator)? = nil) {
        self.resolver = resolver
        spfEvaluator = spf
    }

    /// The addresses a name has (A and AAAA), with what was seen; nil when neither query
    /// was answered.
    func addresses(of name: String) -> (Set<IPAddress>, [String])? {
        let a = resolver.query(name, .a), aaaa = resolver.query(name, .aaaa)
        var evidence = a.describe(name, .a)
        if !aaaa.records.isEmpty || a.records.isEmpty { evidence += aaaa.describe(name, .aaaa) }
        let found = Set((a.records + aaaa.records).compactMap { IPAddress($0.value) })
        // Nothing found while one of the two got no answer: not known to have none.
        if found.isEmpty, a.isFailure || aaaa.isFailure { return nil }
        return (found, evidence)
    }

    // MARK: - Reverse DNS

    /// The PTR of a sending IP, whether it is forward-confirmed (a name of the PTR has the
    /// IP among its addresses), and whether it looks like an ISP's generic name.
    public func reverseDNS(_ ip: IPAddress) -> [Finding] {
        let name = ip.reverseName
        let answer = resolver.query(name, .ptr)
        let subject = ip.description
        switch answer {
        case .failed:
            return [Finding(check: "ptr", subject: subject, verdict: .unknown, summary: "the PTR lookup got no answer",
                            evidence: answer.describe(name, .ptr), short: "ptr=unknown")]
        case .nxdomain, .noData:
            return [Finding(check: "ptr", subject: subject, verdict: .problem, summary: "\(subject) has no PTR record",
                            evidence: answer.describe(name, .ptr),
                            fix: "ask whoever holds \(subject) (the hosting provider or ISP) for a PTR record naming this host, a name whose A/AAAA record is \(subject)",
                            short: "ptr=missing")]
        case .records(let rs):
            var out = [Finding(check: "ptr", subject: subject, verdict: .ok, summary: "\(subject) has a PTR record: \(rs.map(\.value).joined(separator: ", "))",
                               evidence: answer.describe(name, .ptr), short: "ptr=ok")]
            var evidence = answer.describe(name, .ptr)
            var confirmed: String?
            var unanswered = false
            for r in rs {
                guard let (found, seen) = addresses(of: r.value) else {
                    unanswered = true
                    evidence += ["\(r.value): no answer"]
                    continue
                }
                evidence += seen
                if found.contains(ip) { confirmed = r.value; break }
            }
            if let confirmed {
                out.append(Finding(check: "fcrdns", subject: subject, verdict: .ok,
                                   summary: "forward-confirmed: \(subject) -> \(confirmed) -> \(subject)", evidence: evidence, short: "fcrdns=ok"))
            } else if unanswered {
                out.append(Finding(check: "fcrdns", subject: subject, verdict: .unknown,
                                   summary: "the PTR name's addresses could not be looked up", evidence: evidence, short: "fcrdns=unknown"))
            } else {
                out.append(Finding(check: "fcrdns", subject: subject, verdict: .problem,
                                   summary: "not forward-confirmed: no name of the PTR has \(subject) among its addresses", evidence: evidence,
                                   fix: "give \(rs[0].value) an \(ip.isIPv4 ? "A" : "AAAA") record of \(subject), or change the PTR to a name that has one",
                                   short: "fcrdns=fail"))
            }
            if let generic = rs.lazy.compactMap({ Self.genericSign($0.value, ip: ip) }).first {
                out.append(Finding(check: "generic-ptr", subject: subject, verdict: .problem,
                                   summary: "the PTR name looks like an ISP's generic name (\(generic)); many receivers treat such hosts as end-user machines",
                                   evidence: answer.describe(name, .ptr),
                                   fix: "set a PTR that names this mail host (mail.example.org), not one made from its address",
                                   short: "ptr=generic"))
            }
            return out
        }
    }

    /// Words that ISPs put in the names of end-user addresses, as receivers' filters look
    /// for them.
    static let genericWords = ["dynamic", "dyn", "dhcp", "pool", "dsl", "adsl", "cable", "ppp", "dial", "dialup",
                               "client", "customer", "cust", "broadband", "residential", "user", "host-"]

    /// Why a PTR name looks generic, or nil. The heuristic: the name's first label holds at
    /// least two of the address's IPv4 octets (in any order, any separator: `203-0-113-5`,
    /// `5.113.0.203`, `cpe-203-0-113-5`) or the hex of an IPv6 address's last 32 bits, or a
    /// label starts with one of `genericWords`.
    public static func genericSign(_ name: String, ip: IPAddress) -> String? {
        let lower = name.lowercased()
        let labels = lower.split(separator: ".").map(String.init)
        guard labels.count >= 2 else { return nil }
        // The host part: every label but the last two (the registered domain).
        let host = labels.dropLast(2)
        if ip.isIPv4 {
            let octets = ip.bytes.map { String($0) }
            let digits = host.joined(separator: "-").split(whereSeparator: { !$0.isNumber }).map(String.init)
            if Set(digits).intersection(octets).count >= 2 && digits.count >= 3 { return "the address's numbers in the name" }
        } else {
            let tail = ip.bytes.suffix(4).map { b in String(b, radix: 16) }.joined()
            if tail.count >= 4, host.joined().contains(tail) { return "the address in the name" }
        }
        for label in host {
            for w in genericWords where label.hasPrefix(w) && (label.count == w.count || !label[label.index(label.startIndex, offsetBy: w.count)].isLetter || w.hasSuffix("-")) {
                return "\"\(w.hasSuffix("-") ? String(w.dropLast()) : w)\" in the name"
            }
        }
        return nil
    }

    /// Whether the HELO name resolves to one of the sending IPs.
    public func helo(_ name: String, ips: [IPAddress]) -> Finding {
        guard let (found, evidence) = addresses(of: name) else {
            return Finding(check: "helo", subject: name, verdict: .unknown, summary: "the HELO name's addresses could not be looked up",
                           evidence: ["\(name): no answer"], short: "helo=unknown")
        }
        if found.isEmpty {
            return Finding(check: "helo", subject: name, verdict: .problem, summary: "the HELO name \(name) does not resolve",
                           evidence: evidence, fix: "give \(name) an A/AAAA record of the sending IP, or set the MTA's HELO name (Postfix smtp_helo_name, Exim helo_data) to the PTR name",
                           short: "helo=unresolved")
        }
        if ips.isEmpty || !found.isDisjoint(with: ips) {
            return Finding(check: "helo", subject: name, verdict: .ok, summary: "the HELO name \(name) resolves\(ips.isEmpty ? "" : " to the sending IP")",
                           evidence: evidence, short: "helo=ok")
        }
        return Finding(check: "helo", subject: name, verdict: .problem,
                       summary: "the HELO name \(name) resolves, but not to the sending IP (\(ips.map(\.description).joined(separator: ", ")))",
                       evidence: evidence, fix: "point \(name) at the sending IP, or set the HELO name to the PTR name of the sending IP",
                       short: "helo=mismatch")
    }
}

extension IdentityChecker {
    /// Every check of an identity, in the order `deferwatch check` prints them: per address
    /// its reverse DNS and blocklists, the HELO name (and its SPF per address), then per
    /// domain its SPF per address, MX, DMARC, each DKIM selector and the domain blocklists.
    public func findings(ips: [IPAddress], helo: String?, domains: [String], selectors: [String],
                         blocklists: [String] = [], domainBlocklists: [String] = [], envelope: [String] = []) -> [Finding] {
        var out: [Finding] = []
        for ip in ips {
            out += reverseDNS(ip)
            for zone in blocklists { out.append(blocklist(ip, zone: zone)) }
        }
        if let helo {
            out.append(self.helo(helo, ips: ips))
            if let e = spfEvaluator { for ip in ips { out.append(spf(helo, ip: ip, helo: helo, evaluator: e, check: "spf-helo")) } }
        }
        for d in domains {
            if let e = spfEvaluator { for ip in ips { out.append(spf(d, ip: ip, helo: helo, evaluator: e)) } }
            out.append(mail(d))
            out.append(dmarc(d, envelope: envelope))
            for s in selectors { out.append(dkim(d, selector: s)) }
            for zone in domainBlocklists { out.append(domainBlocklist(d, zone: zone)) }
        }
        return out
    }
}

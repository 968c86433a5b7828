/// The sending identity an alert's checks look at, and where each part was learned
/// (`[identity]`, the reply text, the MTA's configuration, the host, the log).
public struct SendingIdentity: Sendable, Equatable {
    public var ips: [IPAddress] = []
    public var helo: String?
    public var domains: [String] = []
    /// The envelope sender domains the log showed (for DMARC's SPF alignment).
    public var envelopeDomains: [String] = []
    public var selectors: [String] = []
    public var blocklists: [String] = []
    public var domainBlocklists: [String] = []
    /// One line per part: `ip 203.0.113.5 (named in the reply)`.
    public var learned: [String] = []

    public init() {}

    public var isEmpty: Bool { ips.isEmpty && helo == nil && domains.isEmpty }
}

/// The causes whose claim DNS can check, and what was found for one alert: the findings,
/// and whether they confirm what the receiver claims, contradict it, or cannot say.
public struct ClaimCheck: Sendable, Equatable {
    public enum Verdict: String, Sendable {
        /// A finding is the problem the receiver names.
        case confirmed
        /// Every check of the claim is `ok`: the receiver's reason is elsewhere.
        case contradicted
        /// Nothing checked decides (no answer, nothing to check).
        case undecided
    }

    public var alertID: Int
    public var cause: Cause
    /// Wall time of the check, microseconds.
    public var time: Int64
    public var findings: [Finding]
    public var verdict: Verdict
    /// One sentence for people: what the checks say of the claim.
    public var note: String
    public var identity: SendingIdentity

    public init(alertID: Int, cause: Cause, time: Int64, findings: [Finding], verdict: Verdict, note: String,
                identity: SendingIdentity) {
        self.alertID = alertID
        self.cause = cause
        self.time = time
        self.findings = findings
        self.verdict = verdict
        self.note = note
        self.identity = identity
    }

    /// The causes the daemon checks when an alert of them opens.
    public static let checkedCauses: Set<Cause> = [.reverseDNS, .authentication, .reputation]

    /// The checks that bear on a cause's claim (the rest are shown, not weighed).
    static func bearing(on cause: Cause) -> Set<String> {
        switch cause {
        case .reverseDNS: ["ptr", "fcrdns", "generic-ptr", "helo"]
        case .authentication: ["spf", "dmarc", "dkim", "mx"]
        case .reputation: ["dnsbl", "rhsbl", "generic-ptr"]
        default: []
        }
    }

    /// `ptr=missing spf=softfail dmarc=none`: the alert line's `checks=`; problems first,
    /// each short form once.
    public var short: String {
        var seen: Set<String> = []
        var out: [String] = []
        for v in [Finding.Verdict.problem, .unknown, .ok] {
            for f in findings where f.verdict == v && seen.insert(f.short).inserted { out.append(f.short) }
        }
        return out.isEmpty ? "none" : out.joined(separator: " ")
    }
}

extension IdentityChecker {
    /// The checks of an alert's claim: what the cause needs of the identity.
    public func findings(for cause: Cause, identity id: SendingIdentity) -> [Finding] {
        switch cause {
        case .reverseDNS:
            var out: [Finding] = []
            for ip in id.ips { out += reverseDNS(ip) }
            if let helo = id.helo { out.append(self.helo(helo, ips: id.ips)) }
            return out
        case .authentication:
            var out: [Finding] = []
            for ip in id.ips { out += reverseDNS(ip).filter { $0.check == "ptr" } }
            for d in id.domains {
                if let e = spfEvaluator { for ip in id.ips { out.append(spf(d, ip: ip, helo: id.helo, evaluator: e)) } }
                out.append(mail(d))
                out.append(dmarc(d, envelope: id.envelopeDomains))
                for s in id.selectors { out.append(dkim(d, selector: s)) }
            }
            return out
        case .reputation:
            var out: [Finding] = []
            for ip in id.ips {
                out += reverseDNS(ip).filter { $0.check == "generic-ptr" }
                for zone in id.blocklists { out.append(blocklist(ip, zone: zone)) }
            }
            for d in id.domains { for zone in id.domainBlocklists { out.append(domainBlocklist(d, zone: zone)) } }
            return out
        default:
            return []
        }
    }

    /// Checks the claim of an alert and judges it.
    public func check(alertID: Int, cause: Cause, identity: SendingIdentity, time: Int64) -> ClaimCheck {
        let found = findings(for: cause, identity: identity)
        let (verdict, note) = ClaimCheck.judge(cause, found, identity)
        return ClaimCheck(alertID: alertID, cause: cause, time: time, findings: found, verdict: verdict, note: note, identity: identity)
    }
}

extension ClaimCheck {
    /// Whether the findings confirm the receiver's claim, contradict it, or cannot say, and
    /// the sentence that tells the operator.
    static func judge(_ cause: Cause, _ findings: [Finding], _ id: SendingIdentity) -> (Verdict, String) {
        let says = "receiver says \(cause.rawValue.replacing("_", with: " "))"
        if id.isEmpty {
            return (.undecided, "\(says); no sending identity known to check (set [identity] addresses, helo and domains)")
        }
        let weighed = findings.filter { bearing(on: cause).contains($0.check) }
        let problems = weighed.filter { $0.verdict == .problem }
        if !problems.isEmpty {
            return (.confirmed, "\(says), and the checks agree: " + problems.prefix(3).map(\.summary).joined(separator: "; "))
        }
        if weighed.isEmpty {
            switch cause {
            case .reputation where id.blocklists.isEmpty && id.domainBlocklists.isEmpty:
                return (.undecided, "\(says); no blocklists are configured to check ([dns] blocklists): look at the receiver's postmaster tools")
            case .authentication where id.domains.isEmpty:
                return (.undecided, "\(says); no sender domain known to check (set [identity] domains)")
            default:
                return (.undecided, "\(says); nothing could be checked")
            }
        }
        if weighed.contains(where: { $0.verdict == .unknown }) {
            let unknown = weighed.filter { $0.verdict == .unknown }.map(\.short)
            return (.undecided, "\(says); the checks could not decide (\(unknown.joined(separator: " "))), none found a problem")
        }
        switch cause {
        case .reverseDNS:
            let confirmed = weighed.first { $0.check == "fcrdns" }?.summary.replacing("forward-confirmed: ", with: "")
            let what = confirmed.map { "PTR \($0) is forward-confirmed" } ?? "the reverse DNS checks pass"
            let helo = weighed.contains { $0.check == "helo" } ? "" : "the HELO name (set [identity] helo to check it) or "
            return (.contradicted, "\(says); \(what): look at \(helo)the receiver's policy (some want the PTR to match the HELO name)")
        case .authentication:
            return (.contradicted, "\(says); SPF, DMARC and the DKIM keys checked pass: look at whether mail is DKIM-signed at all, and whether the From domain aligns with the SPF or DKIM domain")
        case .reputation:
            let zones = (id.blocklists + id.domainBlocklists).joined(separator: ", ")
            return (.contradicted, "\(says); not listed in \(zones): the receiver's own reputation data decides (its postmaster tools, complaint rates)")
        default:
            return (.undecided, says)
        }
    }
}

extension SendingIdentity {
    /// The addresses a reply names (Gmail, Microsoft, Yahoo and many others print the IP
    /// they saw): the IPv4 and IPv6 literals after the reply code, so that the relay's own
    /// address (`host mx.example.com[192.0.2.1] said: 421 ...`, Exim's `H=mx [192.0.2.1]`)
    /// is not taken. Loopback, unspecified and link-local addresses are left out.
    public static func addressesNamed(in text: String) -> [IPAddress] {
        let bytes = Array(text.utf8)
        guard let start = replyStart(bytes) else { return [] }
        var out: [IPAddress] = []
        var i = start
        func isCandidate(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46) || b == 0x2E || b == 0x3A
        }
        while i < bytes.count, out.count < 4 {
            guard isCandidate(bytes[i]) else { i += 1; continue }
            var j = i
            while j < bytes.count, isCandidate(bytes[j]), j - i < 45 { j += 1 }
            // A token glued to letters (a hostname label, a word) is not an address.
            let glued = (i > 0 && isWordByte(bytes[i - 1])) || (j < bytes.count && isWordByte(bytes[j]))
            var token = bytes[i..<j]
            while let last = token.last, last == 0x2E || last == 0x3A { token = token.dropLast() }
            if !glued, token.count >= 7, let ip = IPAddress(String(decoding: token, as: UTF8.self)), ip.isPlausibleSender,
               (token.contains(0x3A) ? token.filter({ $0 == 0x3A }).count >= 2 : token.filter({ $0 == 0x2E }).count == 3),
               !out.contains(ip) {
                out.append(ip)
            }
            i = j + 1
        }
        return out
    }

    private static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x67 && b <= 0x7A) || (b >= 0x47 && b <= 0x5A) || b == 0x5F || b == 0x2D
    }

    /// Where the reply starts: the first SMTP reply code (4xx/5xx followed by a space or a
    /// dash) after any `said:` or `SMTP error from remote mail server after ...:`.
    static func replyStart(_ b: [UInt8]) -> Int? {
        var i = 0
        while i + 3 < b.count {
            if (b[i] == 0x34 || b[i] == 0x35), b[i + 1] >= 0x30, b[i + 1] <= 0x39, b[i + 2] >= 0x30, b[i + 2] <= 0x39,
               b[i + 3] == 0x20 || b[i + 3] == 0x2D, i == 0 || b[i - 1] == 0x20 || b[i - 1] == 0x3A {
                return i + 3
            }
            i += 1
        }
        return nil
    }
}

extension IPAddress {
    /// Not loopback, unspecified, link-local or multicast: an address a receiver could have
    /// seen mail come from.
    public var isPlausibleSender: Bool {
        if isIPv4 {
            let b0 = bytes[0], b1 = bytes[1]
            return b0 != 0 && b0 != 127 && !(b0 == 169 && b1 == 254) && b0 < 224
        }
        if bytes.allSatisfy({ $0 == 0 }) || bytes == [UInt8](repeating: 0, count: 15) + [1] { return false }
        return !(bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80) && bytes[0] != 0xFF
    }

    /// Globally routable: also not RFC 1918, CGNAT or ULA space (the host's
    /// own addresses taken as the sending identity when nothing else names it).
    public var isGlobal: Bool {
        guard isPlausibleSender else { return false }
        if isIPv4 {
            let b0 = bytes[0], b1 = bytes[1]
            if b0 == 10 || (b0 == 172 && b1 & 0xF0 == 16) || (b0 == 192 && b1 == 168) || (b0 == 100 && b1 & 0xC0 == 64) { return false }
            return true
        }
        return bytes[0] & 0xE0 == 0x20
    }
}

/// The result of an SPF evaluation (RFC 7208 section 2.6).
public enum SPFResult: String, Sendable {
    case pass, fail, softfail, neutral, none, temperror, permerror
}

/// What an SPF evaluation found: the result (nil when it could not be asked), the
/// evaluator's explanation and error messages, and every DNS answer it went by.
public struct SPFOutcome: Sendable, Equatable {
    public var result: SPFResult?
    public var comment: String
    public var errors: [String]
    public var seen: [String]

    public init(result: SPFResult?, comment: String, errors: [String] = [], seen: [String] = []) {
        self.result = result
        self.comment = comment
        self.errors = errors
        self.seen = seen
    }
}

/// Evaluates SPF with its DNS lookups through `resolver` (the daemon's is libspf2's).
public protocol SPFEvaluator {
    func evaluate(ip: IPAddress, sender: String, helo: String?, resolver: any DNSResolver) -> SPFOutcome
}

extension IdentityChecker {
    /// The SPF policy of `domain` (a sender domain or the HELO name) for the sending IP.
    public func spf(_ domain: String, ip: IPAddress, helo: String?, evaluator: any SPFEvaluator, check: String = "spf") -> Finding {
        let o = evaluator.evaluate(ip: ip, sender: "postmaster@\(domain)", helo: helo, resolver: resolver)
        let subject = "\(domain) for \(ip)"
        var evidence = o.seen
        evidence += o.errors.map { "libspf2: \($0)" }
        var said = o.comment.isEmpty ? "" : " (\(o.comment))"
        // The mechanism that decided, when a walk of the same records reaches the same result.
        if let r = o.result, r != .none, r != .permerror, r != .temperror,
           let d = SPFMechanismFinder(resolver: resolver).decide(domain, ip: ip), d.result == r {
            said += "; decided by \(d.mechanism)"
        }
        guard let r = o.result else {
            return Finding(check: check, subject: subject, verdict: .unknown, summary: "SPF could not be evaluated\(said)",
                           evidence: evidence, short: "\(check)=unknown")
        }
        let finding = { (v: Finding.Verdict, summary: String, fix: String?) in
            Finding(check: check, subject: subject, verdict: v, summary: summary + said, evidence: evidence, fix: fix, short: "\(check)=\(r.rawValue)")
        }
        let add = ip.isIPv4 ? "ip4:\(ip)" : "ip6:\(ip)"
        switch r {
        case .pass:
            return finding(.ok, "SPF pass: \(domain) authorises \(ip)", nil)
        case .fail, .softfail:
            return finding(.problem, "SPF \(r.rawValue): \(domain) does not authorise \(ip)",
                           "add \(add) (or an include: of the service that sends for you) to the SPF record of \(domain), before its -all/~all")
        case .neutral:
            return finding(.problem, "SPF neutral: \(domain)'s record says nothing for \(ip) (receivers that require SPF take it as not authorised)",
                           "add \(add) to the SPF record of \(domain)")
        case .none:
            return finding(.problem, "\(domain) has no SPF record",
                           "publish a TXT record at \(domain): v=spf1 \(add) -all (with the includes of every service that sends for it)")
        case .permerror:
            return finding(.problem, "the SPF record of \(domain) is broken (permerror): receivers treat it as fail",
                           "fix the record as the messages say (a syntax error, more than 10 DNS-querying mechanisms, a missing include, two records)")
        case .temperror:
            return finding(.unknown, "SPF temperror: a lookup failed", nil)
        }
    }
}

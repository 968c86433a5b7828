/// Why a delivery was deferred: the root cause an operator must act on (DESIGN.md).
public enum Cause: String, Sendable, Codable, CaseIterable, Comparable {
    case rateLimit = "rate_limit"
    case connectionLimit = "connection_limit"
    case reputation
    case content
    case authentication
    case reverseDNS = "reverse_dns"
    case greylisting
    case serviceUnavailable = "service_unavailable"
    case protocolErrors = "protocol_errors"
    case timeout
    case connectionFailure = "connection_failure"
    case dnsFailure = "dns_failure"
    case tls
    case mailbox
    case other

    public static func < (a: Cause, b: Cause) -> Bool { a.index < b.index }

    var index: Int { Cause.allCases.firstIndex(of: self)! }

    /// What the operator must fix, in one line.
    public var summary: String {
        switch self {
        case .rateLimit: "sending too fast to this receiver (volume per IP or per domain)"
        case .connectionLimit: "too many parallel connections or messages per connection"
        case .reputation: "IP or domain reputation, blocklisting, complaints"
        case .content: "message content or links flagged"
        case .authentication: "SPF, DKIM or DMARC missing or failing"
        case .reverseDNS: "sending IP lacks PTR or forward-confirmed reverse DNS"
        case .greylisting: "receiver greylists; normally clears on retry"
        case .serviceUnavailable: "receiver down, overloaded, in maintenance"
        case .protocolErrors: "receiver hung up after too many errors"
        case .timeout: "SMTP dialogue timed out"
        case .connectionFailure: "TCP connect refused, timed out, unreachable, lost"
        case .dnsFailure: "temporary DNS failure looking up the destination"
        case .tls: "STARTTLS or TLS required, offered badly, or failed"
        case .mailbox: "mailbox full, over quota, temporarily unavailable, too many recipients"
        case .other: "a temporary failure none of the above explains"
        }
    }
}

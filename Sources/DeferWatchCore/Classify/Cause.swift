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
    /// The sending MTA queued or held the mail by its own configuration (Exim
    /// queue_smtp_domains, -odqs, queue_only, hold, freeze; Postfix defer_transports).
    case localQueue = "local_queue"
    /// A transport, content filter or delivery agent of the sending host failed or did not
    /// answer (a content filter down, "mail transport unavailable", local LMTP or pipe trouble).
    case localTransport = "local_transport"
    /// The sending MTA's own configuration is wrong (mail loops back to itself, a failed
    /// expansion, an unknown transport, a table lookup failure).
    case localConfig = "local_config"

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
        case .localQueue: "this MTA queued the mail by its own configuration; no receiver deferred it"
        case .localTransport: "a transport or content filter of this host failed or did not answer"
        case .localConfig: "this MTA's own configuration stops the delivery"
        }
    }

    /// Who decided the deferral: a receiver (or the network between), or the sending MTA.
    public var origin: Origin {
        switch self {
        case .localQueue, .localTransport, .localConfig: .local
        default: .remote
        }
    }

    public var isLocal: Bool { origin == .local }
}

/// Who decided a deferral. Local decisions never open a destination alert: no destination
/// is deferring, the sending host is.
public enum Origin: String, Sendable, Codable, CaseIterable {
    case remote
    case local
}

/// How sure a classification is, from the kind of evidence that decided it: a provider's
/// own reply or a code that names the cause (high), cue phrases (medium), only the reply
/// code's class or nothing at all (low).
public enum Confidence: String, Sendable, Codable, CaseIterable, Comparable {
    case low
    case medium
    case high

    public static func < (a: Confidence, b: Confidence) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

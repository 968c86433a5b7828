/// How bad an alert transition is; maps to a syslog priority.
public enum Severity: String, Sendable, Codable, Comparable, CaseIterable {
    case notice
    case warning
    case error
    case critical

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The syslog priority (RFC 5424 severity number).
    public var syslogPriority: Int {
        switch self {
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

/// The transitions of an alert's life.
public enum AlertState: String, Sendable, Codable, CaseIterable {
    case open
    case escalate
    case remind
    case resolve
}

/// What a deferral is tracked under: a provider, a recipient domain or a relay host,
/// optionally narrowed to one sending host.
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    case domain
    case relay
    case provider

    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct DestinationKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var scope: Scope
    public var name: String
    /// The sending host, or nil for all hosts together.
    public var host: String?

    public init(_ scope: Scope, _ name: String, host: String? = nil) {
        self.scope = scope
        self.name = name
        self.host = host
    }

    public var description: String {
        "\(scope.rawValue)=\(name)" + (host.map { " host=\($0)" } ?? "")
    }

    public func withHost(_ h: String?) -> DestinationKey { DestinationKey(scope, name, host: h) }
}

import DeferWatchCore
import Foundation

/// Alerts as a checkpoint holds them, decoded from JSON: the tests build alerts no tracker
/// would raise (times at the ends of Int64, counts out of range, a given sample).
public enum FixtureAlert {
    public static func make(id: Int = 7, cause: Cause, mta: MTA = .postfix, scope: Scope, name: String, provider: String? = nil,
                            domain: String? = nil, host: String? = nil, openedAt: Int64 = 1_795_824_000_000_000,
                            attempts: Int = 70, deferrals: Int = 30, sample: String = "") throws -> Alert {
        var doc: [String: Any] = [
            "id": id, "cause": cause.rawValue, "mta": mta.rawValue, "severity": "warning",
            "openedAt": openedAt, "firstSeen": openedAt, "lastSeen": openedAt, "deferrals": deferrals, "attempts": attempts,
            "expired": 0, "recipientHashes": [Int](), "recurring": 1, "sample": sample, "nextRemind": 0, "escalations": 0,
        ]
        var key: [String: Any] = ["scope": scope.rawValue, "name": name]
        if let host { key["host"] = host }
        doc["key"] = key
        if let provider { doc["provider"] = provider }
        if let domain { doc["domain"] = domain }
        return try JSONDecoder().decode(Alert.self, from: JSONSerialization.data(withJSONObject: doc))
    }
}

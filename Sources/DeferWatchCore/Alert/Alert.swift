/// One episode: a destination deferring for one cause, from the moment it crossed the
/// thresholds until mail flows again. Owned by the tracker; its transitions are values.
public struct Alert: Sendable, Equatable, Codable {
    public var id: Int
    public var key: DestinationKey
    public var cause: Cause
    public var mta: MTA
    public var provider: String?
    public var domain: String?
    public var relay: String?
    public var severity: Severity
    public var openedAt: Int64
    public var firstSeen: Int64
    public var lastSeen: Int64
    /// Last delivery to the destination after the last deferral (mail flows again).
    public var lastSuccess: Int64?
    public var deferrals: Int
    public var attempts: Int
    public var expired: Int
    public var recipientHashes: Set<Int>
    public var recurring: Int
    public var sample: String
    public var nextRemind: Int64
    public var escalations: Int
    /// The rule that classified the deferral that opened the alert (nil: inherited), and how
    /// sure that classification is. Optional so checkpoints of older versions still load.
    public var rule: String?
    public var confidence: Confidence?
    /// The sending host the alert spoke for when it opened (nil: several), so a restart
    /// that has not seen a line yet still names it.
    public var sendingHost: String?
    /// For the wider alert of a storm (scope `all`): how many destinations it holds.
    public var destinations: Int?
    /// The sender domains of the messages it deferred, in the order first seen, at most
    /// `senderCap` (nil: none known; the MTA's qmgr `from=` or Exim `<=` lines name them).
    public var senders: [String]?
    /// Messages of its destinations seen within `[queue] at_risk_before` of expiring while it
    /// was open (nil: none).
    public var atRisk: Int?

    public static let senderCap = 5

    mutating func noteSender(_ d: String) {
        if senders == nil { senders = [d] } else if senders!.count < Self.senderCap, !senders!.contains(d) { senders!.append(d) }
    }

    /// Distinct recipients are counted exactly up to this many.
    public static let recipientCap = 10_000

    public var recipients: Int { recipientHashes.count }

    /// Samples are cut to this many characters (a reply can be kilobytes long).
    public static let sampleLimit = 500

    /// A hash of a recipient that is the same in every process (Swift's `hashValue` is not),
    /// so the distinct count survives a restart.
    public static func recipientHash(_ r: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in r.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(bitPattern: UInt(h))
    }

    static func cappedSample(_ s: String) -> String {
        s.count <= sampleLimit ? s : String(s.prefix(sampleLimit)) + "..."
    }
}

/// One line of an alert's life, as written to syslog and printed by `analyze --alerts`.
public struct AlertTransition: Sendable, Equatable {
    public var time: Int64
    public var state: AlertState
    public var severity: Severity
    public var alert: Alert
    public var window: Int64
    public var hint: String
    /// For a resolve: the alert that took this one over (a provider-wide episode).
    public var absorbedBy: Int?
    /// The sending host the alert speaks for (nil: several hosts).
    public var host: String?
    /// True for the summary of an alert still open when the input ended.
    public var endOfInput: Bool = false
    /// The change to the MTA's configuration that fixes the cause, with values from what the
    /// alert observed up to `time` (nil: its cause has none; never for a resolve).
    public var fix: ConfigFix? = nil
}

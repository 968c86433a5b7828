/// The outcome of one delivery attempt for one recipient.
public enum DeliveryStatus: String, Sendable, Codable, CaseIterable {
    case sent
    case deferred
    case bounced
    case expired
}

/// Where in the SMTP dialogue a failure happened.
public enum SMTPStage: String, Sendable, Codable, CaseIterable {
    case connect
    case greeting
    case helo
    case mail
    case rcpt
    case data
    case endOfData = "end-of-data"
}

/// One delivery attempt for one recipient, as a parser read it from one log line, before
/// classification. `cause`, `rule`, `provider` and `inherited` are filled in by the classifier.
public struct DeliveryEvent: Sendable, Equatable {
    public var time: Int64?
    public var mta: MTA
    public var host: String
    public var queueID: String
    public var recipient: String?
    public var domain: String?
    public var status: DeliveryStatus
    public var relay: String?
    public var relayIP: String?
    public var dsn: String?
    public var code: Int?
    public var stage: SMTPStage?
    /// The reply or error text of the attempt, on one line (empty for most `sent` lines).
    public var text: String
    /// Where, in UTF-8 bytes of `text`, the part that explains the failure starts: for
    /// Postfix "delivery temporarily suspended: REASON", the REASON.
    public var reasonStart: Int
    /// Set by the parser for lines that never carry their own reason (Exim "retry time not
    /// reached", Postfix/Exim expiry): the cause is taken from an earlier failure.
    public var wantsInheritedCause: Bool
    /// When the message arrived, if the line tells (Postfix: its time less `delay=`; Exim:
    /// the time in the message id). Read for failures only.
    public var arrival: Int64?

    public var cause: Cause?
    public var rule: String?
    /// How sure the cause is (`RuleLayer.confidence` of the deciding rule; an inherited cause
    /// keeps the confidence it had).
    public var confidence: Confidence?
    public var provider: String?
    public var inherited: Bool
    /// The message's identity for counting messages: its host and queue id.
    public var messageHash: Int {
        var h = Hasher()
        h.combine(host)
        h.combine(queueID)
        return h.finalize()
    }

    public init(time: Int64?, mta: MTA, host: String, queueID: String, recipient: String?, domain: String?,
                status: DeliveryStatus, relay: String? = nil, relayIP: String? = nil, dsn: String? = nil,
                code: Int? = nil, stage: SMTPStage? = nil, text: String = "", reasonStart: Int = 0,
                wantsInheritedCause: Bool = false) {
        self.time = time
        self.mta = mta
        self.host = host
        self.queueID = queueID
        self.recipient = recipient
        self.domain = domain
        self.status = status
        self.relay = relay
        self.relayIP = relayIP
        self.dsn = dsn
        self.code = code
        self.stage = stage
        self.text = text
        self.reasonStart = reasonStart
        self.wantsInheritedCause = wantsInheritedCause
        self.arrival = nil
        self.cause = nil
        self.rule = nil
        self.confidence = nil
        self.provider = nil
        self.inherited = false
    }

    /// The part of `text` the classifier matches.
    public var reason: Substring {
        let u = text.utf8
        let i = u.index(u.startIndex, offsetBy: Swift.min(reasonStart, u.count))
        return Substring(u[i...])
    }
}

/// One log entry as a source saw it, before any interpretation of its text: when it was
/// logged, by which host and program, and the message. The byte views borrow the source's
/// buffer and are valid only during the call that receives the record.
public struct LogRecord {
    /// Microseconds since the epoch, or nil when the entry carried no usable time.
    public var time: Int64?
    public var host: Bytes
    /// The syslog identifier without the pid: `postfix/smtp`, `postfix-out/smtp`, `exim4`.
    public var program: Bytes
    public var message: Bytes

    public init(time: Int64?, host: Bytes, program: Bytes, message: Bytes) {
        self.time = time
        self.host = host
        self.program = program
        self.message = message
    }
}

/// The mail transfer agent that wrote a line.
public enum MTA: String, Sendable, Codable, CaseIterable {
    case postfix
    case exim
}

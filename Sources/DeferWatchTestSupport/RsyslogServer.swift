import Foundation

/// A real rsyslogd on a private socket, writing `facility.severity programname msg` lines
/// to a file, started and stopped by a test.
public final class RsyslogServer {
    public let directory: URL
    public let socket: URL
    public let output: URL
    private let process = Process()

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd") }

    /// Starts rsyslogd; `socketPath` lets a test pick the path before the server exists.
    public init(socketPath: URL? = nil, rfc5424: Bool = false) throws {
        directory = TestPaths.temporaryDirectory("rsyslog")
        socket = socketPath ?? directory.appendingPathComponent("log.sock")
        output = directory.appendingPathComponent("out.log")
        let conf = """
        global(workDirectory="\(directory.path)" parser.permitSlashInProgramName="on")
        module(load="imuxsock" SysSock.Use="off")
        input(type="imuxsock" Socket="\(socket.path)" CreatePath="on" UseSpecialParser="\(rfc5424 ? "off" : "on")" UseSysTimeStamp="off")
        template(name="t" type="string" string="%syslogfacility-text%.%syslogseverity-text% %programname% %msg%\\n")
        action(type="omfile" file="\(output.path)" template="t")

        """
        let confURL = directory.appendingPathComponent("rsyslog.conf")
        try conf.write(to: confURL, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/rsyslogd")
        process.arguments = ["-n", "-f", confURL.path, "-i", directory.appendingPathComponent("pid").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when the socket exists.
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: socket.path) { return }
            usleep(25_000)
        }
        stop()
        throw FixtureError(message: "rsyslogd did not create \(socket.path)")
    }

    /// The lines written so far.
    public func lines() -> [String] {
        guard let s = try? String(contentsOf: output, encoding: .utf8) else { return [] }
        // RFC 3164's message keeps the space after "tag:"; fold it.
        return s.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return String(line) }
            return "\(parts[0]) \(parts[1]) \(parts[2].drop { $0 == " " })"
        }
    }

    /// Waits until at least `count` lines were written (or `timeout` seconds passed).
    public func waitForLines(_ count: Int, timeout: Double = 10) -> [String] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var l = lines()
        while l.count < count && Date() < deadline {
            usleep(20_000)
            l = lines()
        }
        return l
    }

    public func stop() {
        ProcessRunner.stop(process, grace: 0.3)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

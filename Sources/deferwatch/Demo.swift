#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
import DeferWatchDaemon
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `deferwatch run --demo`: the live daemon on the shipped sample log. A writer thread
/// replays samples/mail.log into a temporary file, its timestamps moved to now and its two
/// hours compressed by `speed`, while the daemon follows that file like any log; alerts are
/// printed as they fire. Windows and resolve times are shortened to match.
enum Demo {
    static func configuration(directory: String, speed: Int) -> String {
        // Syslog too when someone watches (a terminal): a run whose output is piped (a
        // script, the tests) leaves the host's syslog alone.
        let socket = isatty(1) != 0 && access("/dev/log", W_OK) == 0 ? "/dev/log" : "\(directory)/no-syslog.sock"
        return """
        [sources]
        journal = false
        files = ["\(directory)/mail.log"]
        poll_interval = "100ms"
        [state]
        directory = "\(directory)/state"
        [syslog]
        socket = "\(socket)"
        [status]
        socket = "\(directory)/status.sock"
        # The sample's addresses and domains are made up: no DNS checks of them.
        [checks]
        enabled = false
        [alerts]
        window = "\(max(1, 900 / speed))s"
        bucket = "1s"
        remind_every = "\(max(2, 3600 / speed))s"
        [alerts.default]
        resolve_after = "\(max(2, 900 / speed))s"
        escalate_after = "\(max(2, 3600 / speed))s"

        """
    }

    /// Starts the replay on its own thread; returns at once.
    /// Removes the demo's temporary directory and all in it.
    static func remove(directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func startReplay(into path: String, speed: Int, linger: Double) {
        let sample = String(decoding: PackageResources.sample_mail_log, as: UTF8.self)
        let lines = sample.split(separator: "\n")
        startThread(name: "deferwatch-demo") {
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            func seconds(_ l: Substring) -> Int? {
                let f = l.prefix(15).split(separator: " ", omittingEmptySubsequences: true)
                guard f.count == 3, let m = months.firstIndex(of: String(f[0])), let d = Int(f[1]) else { return nil }
                let hms = f[2].split(separator: ":").compactMap { Int($0) }
                guard hms.count == 3 else { return nil }
                return ((m * 31 + d) * 24 + hms[0]) * 3600 + hms[1] * 60 + hms[2]
            }
            guard let first = lines.first.flatMap(seconds) else { return }
            let start = Date()
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            defer { close(fd) }
            for l in lines {
                guard let s = seconds(l) else { continue }
                let due = start.addingTimeInterval(Double(s - first) / Double(speed))
                let wait = due.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
                let micros = Int64(due.timeIntervalSince1970 * 1_000_000)
                let text = CivilTime.rfc3339(micros) + String(l.dropFirst(15)) + "\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
            }
            writeStderr("deferwatch demo: the sample has been replayed; waiting \(Int(linger)) s for the last alerts to resolve.")
            usleep(useconds_t(linger * 1_000_000))
            kill(getpid(), SIGTERM) // the daemon's own graceful stop
        }
    }
}

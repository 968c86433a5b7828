#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `deferwatch status`: asks the running daemon over its status socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Ask the running daemon what is deferring right now, where, and why.",
        discussion: """
        Talks to the daemon's status socket (/run/deferwatch/status.sock, or [status] socket
        of the configuration). Without a subcommand: health, open alerts and the destinations
        deferring most. The same answers as JSON: --json, or
        curl --unix-socket /run/deferwatch/status.sock http://localhost/v1/status

        Examples:
          deferwatch status
          deferwatch status alerts
          deferwatch status destinations --cause rate_limit --limit 20
          deferwatch status destination gmail.com
          deferwatch status queue
          deferwatch status queue --destination gmail.com
          deferwatch status trace user@gmail.com
          deferwatch status --json | jq '.alerts'
        """,
        subcommands: [Summary.self, Alerts.self, Destinations.self, Destination.self, Queue.self, Trace.self],
        defaultSubcommand: Summary.self
    )

    struct Options: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The daemon's status socket (default: [status] socket of the configuration, else /run/deferwatch/status.sock).", valueName: "path"))
        var socket: String?

        @Option(name: .long, help: ArgumentHelp("The configuration file that names the socket (default: \(ConfigLoader.defaultPath) when readable).", valueName: "file"))
        var config: String?

        @Flag(name: .long, help: "Print the daemon's JSON answer instead of text.")
        var json = false

        /// The socket: as given, else the one the configuration names. A configuration with
        /// mistakes elsewhere (a typo in [alerts]) still gives its [status] socket: status
        /// is what an operator runs when something is wrong, so it warns and goes on.
        func socketPath() throws -> String {
            if let socket { return socket }
            let file = config ?? (access(ConfigLoader.defaultPath, R_OK) == 0 ? ConfigLoader.defaultPath : nil)
            guard let file else { return StatusConfig().socket }
            guard access(file, R_OK) == 0 else { return try loadConfiguration(path: file).config.status.socket }
            do {
                return try ConfigLoader.load(path: file).config.status.socket
            } catch {
                let named = (try? String(contentsOfFile: file, encoding: .utf8)).flatMap(Self.statusSocket(in:))
                let used = named ?? StatusConfig().socket
                writeStderr("deferwatch: \(file) has mistakes (deferwatch run would refuse it):\n\(error)\n"
                            + "deferwatch: asking \(named == nil ? "the default status socket" : "the status socket it names"), \(used)")
                return used
            }
        }

        /// `socket = "..."` of the `[status]` table, read line by line (the file as a whole
        /// did not load).
        static func statusSocket(in text: String) -> String? {
            var section = ""
            for raw in text.split(whereSeparator: \.isNewline) {
                let line = trimmed(raw)
                if line.hasPrefix("[") {
                    section = String(trimmed(line.dropFirst().prefix { $0 != "]" }))
                    continue
                }
                guard section == "status", let eq = line.firstIndex(of: "="),
                      trimmed(line[..<eq]) == "socket" else { continue }
                let value = trimmed(line[line.index(after: eq)...])
                guard let q = value.first, q == "\"" || q == "'" else { continue }
                let body = value.dropFirst()
                guard let end = body.firstIndex(of: q) else { continue }
                return String(body[..<end])
            }
            return nil
        }

        /// `s` without the blanks around it.
        static func trimmed(_ s: Substring) -> Substring {
            let blank: (Character) -> Bool = { $0.isWhitespace && !$0.isNewline }
            guard let first = s.firstIndex(where: { !blank($0) }), let last = s.lastIndex(where: { !blank($0) }) else { return "" }
            return s[first...last]
        }

        /// GETs `target`; prints the JSON itself with --json, else hands the decoded body on.
        func fetch<T: Decodable>(_ target: String, as type: T.Type) throws -> T? {
            guard let body = try fetchBody(target) else { return nil }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            do {
                return try decoder.decode(T.self, from: Data(body))
            } catch {
                writeStderr("deferwatch: cannot read the daemon's answer (another version?): \(error)")
                throw ExitCode(1)
            }
        }

        /// GETs `target`: the body of a 200 answer (after printing it with --json: nil then);
        /// the error the daemon gave, on stderr, and exit status 4 for a 404, 3 when the
        /// daemon is not running, 1 otherwise.
        func fetchBody(_ target: String) throws -> [UInt8]? {
            let path = try socketPath()
            guard !path.isEmpty else {
                writeStderr("deferwatch: the status socket is turned off ([status] socket = \"\")")
                throw ExitCode(3)
            }
            let answer: StatusClient.Answer
            do {
                answer = try StatusClient.get(socket: path, target: target)
            } catch {
                writeStderr("deferwatch: \(error)")
                throw ExitCode(error.notRunning ? 3 : 1)
            }
            if answer.status != 200 {
                let message = (try? JSONDecoder().decode(DaemonError.self, from: Data(answer.body)))?.error
                if json { writeStdout(answer.body) }
                writeStderr("deferwatch: \(message ?? "the daemon answered \(answer.status)")")
                throw ExitCode(answer.status == 404 ? 4 : 1)
            }
            if json {
                writeStdout(answer.body)
                return nil
            }
            return answer.body
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "summary", abstract: "Health, open alerts, and the destinations deferring most (the default).")
        @OptionGroup var options: Options
        @Option(name: .long, help: "How many destinations to show.") var limit = 10

        func run() throws {
            guard let r = try options.fetch("/v1/status?limit=\(limit)", as: StatusReport.self) else { return }
            print(r.text, terminator: "")
        }
    }

    struct Alerts: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "alerts", abstract: "The open alerts, with evidence and the fix.")
        @OptionGroup var options: Options

        func run() throws {
            guard let r = try options.fetch("/v1/alerts", as: StatusReport.AlertList.self) else { return }
            print(StatusReport.alertsText(r.alerts, detailed: true), terminator: "")
        }
    }

    struct Destinations: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "destinations", abstract: "The destinations deferring now, most first.")
        @OptionGroup var options: Options
        @Option(name: .long, help: "Only destinations deferring for this cause (rate_limit, reputation, ...).") var cause: String?
        @Option(name: .long, help: "Only this provider's destinations (google, microsoft, ...).") var provider: String?
        @Option(name: .long, help: "Only keys of this kind: domain, relay or provider.") var scope: String?
        @Option(name: .long, help: "At most this many.") var limit = 50

        func validate() throws {
            if let cause, Cause(rawValue: cause) == nil {
                throw ValidationError("unknown cause \"\(cause)\" (one of: \(Cause.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let scope, !["domain", "relay", "provider"].contains(scope) {
                throw ValidationError("unknown scope \"\(scope)\" (domain, relay or provider)")
            }
            if limit < 1 { throw ValidationError("--limit must be 1 or more") }
        }

        func run() throws {
            var q = ["limit=\(limit)"]
            if let cause { q.append("cause=\(Self.escape(cause))") }
            if let provider { q.append("provider=\(Self.escape(provider))") }
            if let scope { q.append("scope=\(Self.escape(scope))") }
            guard let r = try options.fetch("/v1/destinations?" + q.joined(separator: "&"), as: StatusReport.DestinationList.self) else { return }
            print(StatusReport.destinationsText(r.destinations, window: r.window), terminator: "")
        }

        static func escape(_ s: String) -> String {
            PercentEncoding.encode(s)
        }
    }

    struct Destination: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "destination", abstract: "One destination (a domain, relay host or provider) in detail.")
        @OptionGroup var options: Options
        @Argument(help: "A recipient domain, relay host or provider, like gmail.com or google.") var name: String

        func run() throws {
            guard let r = try options.fetch("/v1/destinations/" + Destinations.escape(name.lowercased()), as: StatusReport.DestinationDetail.self) else { return }
            print(StatusReport.detailText(r), terminator: "")
        }
    }

    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trace",
            abstract: "Follow one message through the daemon's recent lines: received, each attempt with its cause, the outcome.",
            discussion: """
            As `deferwatch trace`, over the Postfix and Exim lines the running daemon keeps
            in memory ([status] trace_bytes, 16 MiB by default: roughly the last 30,000
            lines; not kept across restarts) instead of log files. QUERY is a queue id or
            Exim message id, a recipient or sender address, or a Message-ID. Older mail:
            deferwatch trace --from /var/log/mail.log QUERY.

            Exit status 0 when a message was found, 4 when none was (or no lines are
            kept), 3 when the daemon is not running, 1 on other errors.
            """)
        @OptionGroup var options: Options
        @Argument(help: ArgumentHelp("A queue id, an address or a Message-ID.", valueName: "query")) var query: String
        @Option(name: .long, help: "Messages shown at most (1 to 1000).") var limit = 100

        func validate() throws {
            if query.isEmpty { throw ValidationError("the query is empty") }
            if limit < 1 || limit > 1000 { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() throws {
            let target = "/v1/trace?q=\(Destinations.escape(query))&limit=\(limit)" + (options.json ? "" : "&format=text")
            guard let body = try options.fetchBody(target) else { return }
            writeStdout(body)
        }
    }
}

/// The body of the daemon's answers other than 200: `{"error": "..."}`.
private struct DaemonError: Decodable {
    var error: String
}

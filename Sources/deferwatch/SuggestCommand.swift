import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

/// `deferwatch suggest ALERT-ID`: the configuration fix of an open alert, alone, ready to
/// paste (the `fix` of the alert in the daemon's /v1/alerts).
struct SuggestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest",
        abstract: "Print the MTA configuration that fixes the cause of an open alert, ready to paste.",
        discussion: """
        For an alert whose cause a change to this host's MTA fixes (rate_limit,
        connection_limit, a receiver that wants fewer recipients a message): a transport of
        its own for the destination's domains with values derived from what the alert saw
        (the rate that got through). Postfix: the transport table, master.cf and main.cf
        lines; Exim: a router, an smtp transport and retry rules. Each part under a comment
        naming its file; then the commands to run. Nothing is changed by this command.

        Exit codes: 0 printed; 3 the daemon is not running; 4 no open alert has that number;
        6 the alert's cause has no configuration fix (its hint says what to do instead).

        Examples:
          deferwatch status alerts
          deferwatch suggest 12
          deferwatch suggest 12 --json | jq -r '.files[].text'
        """)

    /// The exit status of an alert with no configuration fix.
    static let noFix: Int32 = 6

    @OptionGroup var options: StatusCommand.Options
    @Argument(help: ArgumentHelp("The number of an open alert (the #N of deferwatch status alerts, the id=N of its syslog lines).", valueName: "alert-id"))
    var alertID: Int

    func validate() throws {
        if alertID < 1 { throw ValidationError("an alert id is a number from 1") }
    }

    func run() throws {
        var o = options
        o.json = false
        guard let list = try o.fetch("/v1/alerts", as: StatusReport.AlertList.self) else { return }
        guard let alert = list.alerts.first(where: { $0.id == alertID }) else {
            let open = list.alerts.map { "#\($0.id)" }.joined(separator: ", ")
            writeStderr("deferwatch: no open alert #\(alertID) (\(open.isEmpty ? "no alert is open" : "open: " + open); deferwatch status alerts lists them)")
            throw ExitCode(4)
        }
        guard let fix = alert.fix else {
            writeStderr("deferwatch: alert #\(alertID) (\(alert.cause) on \(alert.scope) \(alert.key)) has no configuration fix: \(alert.hint)")
            throw ExitCode(Self.noFix)
        }
        if options.json {
            writeStdout(StatusRouter.jsonBytes(fix))
        } else {
            print(fix.snippet, terminator: "")
        }
    }
}

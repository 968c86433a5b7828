/// The text of a fix, per MTA: Postfix's transport table, master.cf and main.cf; Exim's
/// router, transport and retry rule (Debian's exim4 split configuration names the files; a
/// single exim4.conf takes each part in its section). Every line is valid in its file:
/// the real `postconf -n` and `exim -bV` check them in the tests.
extension ConfigFix {
    /// The whole fix, ready to paste: each file's part under a comment that names the file
    /// and where in it the part goes, then the commands (`deferwatch suggest` prints this).
    public var snippet: String {
        var out = "# deferwatch alert #\(alert): \(cause.rawValue) (\(mta.rawValue))\n"
        out += wrapped(summary, prefix: "# ") + "\n"
        for f in files {
            out += "\n" + wrapped("\(f.path): \(f.place)", prefix: "# ") + "\n"
            out += f.text
        }
        if !commands.isEmpty {
            out += "\n# then run:\n"
            for c in commands { out += "#   \(c)\n" }
        }
        return out
    }

    /// The widest column of the transport table and retry rules: the longest domain.
    private var domainWidth: Int { min(64, domains.map(\.utf8.count).max() ?? 0) }

    private func padded(_ d: String) -> String {
        d + String(repeating: " ", count: max(1, domainWidth + 2 - d.utf8.count))
    }

    // MARK: - Postfix

    static let postfixTransportFile = "/etc/postfix/transport"

    mutating func writePostfix() {
        let t = transport
        var map = ""
        for d in domains { map += "\(padded(d))\(t):\n" }
        files.append(File(path: Self.postfixTransportFile,
                          place: "the recipient domains to send through \(t) (a table of your own in transport_maps: put them there)",
                          text: map))
        var master = "\(t) unix  -       -       n       -       -       smtp\n"
        if let m = values.messagesPerConnection, values.rateDelaySeconds == nil {
            master += "  -o smtp_connection_reuse_count_limit=\(m)\n"
        }
        files.append(File(path: "/etc/postfix/master.cf",
                          place: "a copy of the smtp client line (add the -o options your smtp line has)", text: master))
        var main = "transport_maps = hash:\(Self.postfixTransportFile)\n"
        if let c = values.concurrency {
            main += "\(t)_destination_concurrency_limit = \(c)\n"
            main += "\(t)_initial_destination_concurrency = 1\n"
        }
        if let d = values.rateDelaySeconds {
            main += "\(t)_destination_rate_delay = \(d)s\n"
            // With a rate delay, one failed connection would otherwise defer the whole
            // destination (postconf(5), default_destination_rate_delay).
            main += "\(t)_destination_concurrency_failed_cohort_limit = 10\n"
        }
        if let r = values.recipientLimit { main += "\(t)_destination_recipient_limit = \(r)\n" }
        files.append(File(path: "/etc/postfix/main.cf",
                          place: "the limits (transport_maps set already: keep it, with hash:\(Self.postfixTransportFile) in its list)",
                          text: main))
        commands = ["postmap \(Self.postfixTransportFile)", "postfix check", "postfix reload"]
    }

    // MARK: - Exim

    /// Debian's default retry rule after the first interval (conf.d/retry/30_exim4-config):
    /// every hour growing 1.5 times to 16 hours, then every 6 hours to 4 days.
    static let eximRetryTail = "G,16h,1h,1.5; F,4d,6h"

    mutating func writeExim() {
        let t = transport
        let router = """
            \(t):
              debug_print = "R: \(t) for $local_part@$domain"
              driver = dnslookup
              domains = \(domains.joined(separator: " : "))
              transport = \(t)
              ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
              same_domain_copy_routing = yes
              no_more

            """
        files.append(File(path: "/etc/exim4/conf.d/router/190_deferwatch_\(t)",
                          place: "a router before dnslookup (a single exim4.conf: in begin routers, before dnslookup)",
                          text: router))
        var transportText = "\(t):\n  driver = smtp\n"
        if let c = values.concurrency { transportText += "  max_parallel = \(c)\n" }
        if let m = values.messagesPerConnection { transportText += "  connection_max_messages = \(m)\n" }
        if let r = values.recipientLimit { transportText += "  max_rcpt = \(r)\n" }
        files.append(File(path: "/etc/exim4/conf.d/transport/30_deferwatch_\(t)",
                          place: "its smtp transport (a single exim4.conf: in begin transports; add the options your remote_smtp has, DKIM and TLS)",
                          text: transportText))
        if let m = values.retryMinutes {
            var retry = ""
            // In Exim's own form, as `exim -brt` prints it back: 1h, not 60m.
            let first = m % 60 == 0 ? "\(m / 60)h" : "\(m)m"
            for d in domains { retry += "\(padded(d))*  F,2h,\(first); \(Self.eximRetryTail)\n" }
            files.append(File(path: "/etc/exim4/conf.d/retry/10_deferwatch_\(t)",
                              place: "retry rules before the catch-all * rule (a single exim4.conf: first in begin retry)",
                              text: retry))
        }
        commands = ["update-exim4.conf", "exim4 -bV", "systemctl reload exim4"]
    }

    /// Text as comment lines of at most about 90 columns.
    private func wrapped(_ text: String, prefix: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + word.count + 1 > 88 {
                lines.append(prefix + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(prefix + line) }
        return lines.joined(separator: "\n")
    }
}

import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Work with the classification rules.",
        subcommands: [RulesSuggestCommand.self]
    )
}

struct RulesSuggestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest",
        abstract: "Draft rules for the deferral texts of your logs that no rule explains.",
        discussion: """
        Reads the logs as 'deferwatch analyze' does, groups the deferral texts that no rule
        explains (cause other, no rule) into templates (addresses, IPs, host names, ids and
        numbers masked), most frequent first, and prints for each its count, a sample and a
        draft [[rule]]. Choose the cause, check the draft with
        'deferwatch classify --rules FILE --explain TEXT', and pass the file with --rules
        (or [classify] rules in the configuration). Texts that inherited a cause, and the sending
        MTA's own decisions, are not listed: they are explained.

        Examples:
          deferwatch rules suggest /var/log/mail.log /var/log/mail.log.1
          deferwatch rules suggest --min-count 5 /var/log/exim4/mainlog > my-rules.toml
        """
    )

    @OptionGroup var input: LogInputOptions

    @Option(name: .long, help: "Templates seen fewer times than this are left out.")
    var minCount: Int = 1

    @Option(name: .long, help: "How many templates to print.")
    var limit: Int = 50

    @Flag(name: .long, help: "Print one JSON object per template instead of a rules file.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        try input.validate()
        if minCount < 1 { throw ValidationError("--min-count must be 1 or more") }
        if limit < 0 { throw ValidationError("--limit must be zero or more") }
    }

    func run() throws {
        let loaded = try options.load()
        var batch = input.batch(rules: loaded.rules)
        batch.fields = .report
        let analyzer = BatchAnalyzer(options: batch)
        var engine = analyzer.engine(report: ReportBuilder())
        let result = analyzer.run(&engine)
        let report = engine.finishReport()!
        let drafts = RuleSuggestion.drafts(from: report.unexplained, min: minCount).prefix(limit)
        let out = FDWriter(fd: 1)
        if json {
            for d in drafts {
                let w = JSONWriter()
                w.beginObject()
                w.key("count"); w.int(d.count)
                w.key("template"); w.string(d.template)
                w.key("sample"); w.string(d.sample)
                w.key("needle"); w.string(d.needle)
                w.key("code"); w.int(d.code)
                w.key("dsn"); w.string(d.dsn)
                w.key("rule"); w.string(d.toml)
                w.endObject()
                w.newline()
                out.write(w.bytes)
            }
        } else {
            var s = "# deferwatch rules suggest: \(report.unexplainedTotal) deferral texts no rule explains, "
            s += "\(report.unexplained.count) templates; \(drafts.count) listed (most frequent first).\n"
            s += "# Choose each cause, delete what you do not want, and pass this file with --rules.\n"
            s += "version = 1\n"
            for d in drafts {
                s += "\n# \(d.count)x  \(d.template)\n"
                s += "# sample: \(d.sample.prefix(300))\n"
                s += d.toml
            }
            out.write(s)
        }
        out.flush()
        if !result.errors.isEmpty { throw ExitCode(1) }
    }
}

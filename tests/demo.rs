//! `claims-ledger demo` on the real binary: it runs the whole programme through gRPC, its
//! figures are consistent, and the head hash it prints is the one `verify` finds on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn kes(text: &str) -> i64 {
    let number = text.trim().strip_suffix(" KES").unwrap();
    let (units, cents) = number.split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

#[test]
fn the_demo_runs_a_programme_and_its_head_hash_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .args([
            "demo",
            "--households",
            "150",
            "--facilities",
            "3",
            "--clients",
            "8",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("population: 150 households"), "{report}");
    assert!(report.contains("trial balance KES: 0 "), "{report}");

    // Statements balance: due = paid + outstanding, row by row and in total.
    let rows: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("Facility statements"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 2 + 3 + 1, "{report}");
    let mut due_sum = 0;
    for row in &rows {
        let cells: Vec<&str> = row.split("KES").map(str::trim).collect();
        let name_and_due = cells[0].rsplit_once(' ').unwrap();
        let (due, paid, outstanding) = (
            kes(&format!("{} KES", name_and_due.1)),
            kes(&format!("{} KES", cells[1])),
            kes(&format!("{} KES", cells[2])),
        );
        assert_eq!(due, paid + outstanding, "{row}");
        assert!(due > 0, "{row}");
        if name_and_due.0.trim() == "total" {
            assert_eq!(due, due_sum, "{report}");
        } else {
            due_sum += due;
        }
    }

    // The printed head is what `verify` finds in the kept log.
    let line = report
        .lines()
        .find(|l| l.contains("hash chain verified over"))
        .unwrap();
    let head_hash = line.rsplit(' ').next().unwrap();
    let events: u64 = line
        .split("over ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let verify = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .arg("verify")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(verify.status.success());
    assert_eq!(
        String::from_utf8(verify.stdout).unwrap().trim(),
        format!("ok: {events} events, head hash {head_hash}")
    );

    // A reader that went away (`claims-ledger replay | head -1` after the first line) is
    // not a panic: the pipe's read end is closed before the command starts.
    for command in ["replay", "verify"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
            .arg(command)
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{command}: {stderr}");
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    }
}

/// With four partitions the demo's figures are the same as with one (same seed), and the
/// anchor it prints over the partitions' heads is the one `verify` finds on disk.
#[test]
fn the_demo_on_four_partitions_gives_the_same_figures_and_its_anchor_verifies() {
    let run = |partitions: &str, dir: &std::path::Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
            .args(["demo", "--households", "120", "--facilities", "2"])
            .args(["--clients", "1", "--partitions", partitions])
            .arg("--data-dir")
            .arg(dir)
            .output()
            .unwrap();
        let report = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "{report}");
        report
    };
    let (one, four) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (report_one, report_four) = (run("1", one.path()), run("4", four.path()));
    // Everything between the population and the audit: balances, coverage, statements.
    let figures = |report: &str| -> Vec<String> {
        report
            .lines()
            .filter(|l| !l.contains("workload:") && !l.starts_with("Done in"))
            .take_while(|l| !l.starts_with("Audit"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(figures(&report_one), figures(&report_four));
    let anchor = report_four
        .lines()
        .find(|l| l.contains("in 4 partitions; anchor"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_owned();
    let verify = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .arg("verify")
        .arg("--data-dir")
        .arg(four.path())
        .output()
        .unwrap();
    assert!(verify.status.success());
    let printed = String::from_utf8(verify.stdout).unwrap();
    assert_eq!(printed.lines().count(), 5, "{printed}");
    assert!(
        printed
            .trim_end()
            .ends_with(&format!("in 4 partitions, anchor {anchor}")),
        "{printed}"
    );
}

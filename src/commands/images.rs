//! `strata images`: the images of the local store, as a table on stdout.
//!
//! ```text
//! REPOSITORY   TAG      DIGEST                SIZE     CREATED
//! busybox      latest   sha256:0a1b2c3d4e5f   1.1 MB   2 weeks ago
//! ```
//!
//! SIZE is what the store holds for the image: config plus compressed layers (blobs
//! shared with other images are counted for each). CREATED comes from the config.

use std::time::{SystemTime, UNIX_EPOCH};

use registry_client::Reference;

use super::pull::{human_size, short_digest};
use crate::cli::GlobalArgs;
use crate::images::{self, ImageSummary};

/// `strata images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Print only the full names (`docker.io/library/busybox:latest`), one per line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print whole digests.
    #[arg(long)]
    pub no_trunc: bool,
}

/// List the local images.
pub fn run(global: &GlobalArgs, args: ImagesArgs) -> anyhow::Result<()> {
    let root = images::open_root(global)?;
    let summaries = images::list_images(root.store())?;
    if args.quiet {
        for image in &summaries {
            println!("{}", image.name);
        }
        return Ok(());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut rows = vec![[
        "REPOSITORY".to_owned(),
        "TAG".to_owned(),
        "DIGEST".to_owned(),
        "SIZE".to_owned(),
        "CREATED".to_owned(),
    ]];
    rows.extend(summaries.iter().map(|image| row(image, args.no_trunc, now)));
    print!("{}", table(&rows));
    Ok(())
}

fn row(image: &ImageSummary, no_trunc: bool, now: i64) -> [String; 5] {
    let (repository, tag) = split_name(&image.name);
    let digest = if no_trunc {
        image.digest.clone()
    } else {
        short_digest(&image.digest)
    };
    let size = image
        .size
        .map(human_size)
        .unwrap_or_else(|| "<incomplete>".to_owned());
    let created = image
        .created
        .as_deref()
        .and_then(parse_rfc3339)
        .map(|t| ago(now - t))
        .unwrap_or_else(|| "N/A".to_owned());
    [repository, tag, digest, size, created]
}

/// `docker.io/library/busybox:latest` -> (`busybox`, `latest`); names pinned by digest
/// have tag `<none>`; names that are not references are shown as they are.
fn split_name(name: &str) -> (String, String) {
    let Ok(reference) = Reference::parse(name) else {
        return (name.to_owned(), "<none>".to_owned());
    };
    let familiar = reference.familiar();
    let base = familiar.split('@').next().unwrap_or(&familiar);
    match reference.tag() {
        Some(tag) => {
            let repository = base.strip_suffix(&format!(":{tag}")).unwrap_or(base);
            (repository.to_owned(), tag.to_owned())
        }
        None => (base.to_owned(), "<none>".to_owned()),
    }
}

/// Left-aligned columns separated by three spaces.
fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Unix seconds of an RFC 3339 time (`2024-05-01T12:34:56.789Z`, `...+02:00`).
fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let split = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(split);
    let clock = clock.split('.').next()?;
    let mut c = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (c.next()??, c.next()??, c.next()??);
    let offset = match zone.as_bytes().first() {
        Some(b'+') | Some(b'-') => {
            let (h, m) = zone[1..].split_once(':')?;
            let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
            if zone.starts_with('-') { -secs } else { secs }
        }
        _ => 0,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// docker's human durations: `About a minute ago`, `3 hours ago`, `2 weeks ago`.
fn ago(seconds: i64) -> String {
    let s = seconds.max(0);
    let text = match s {
        0 => return "Less than a second ago".to_owned(),
        1..60 => format!("{s} seconds"),
        60..120 => "About a minute".to_owned(),
        120..3600 => format!("{} minutes", s / 60),
        3600..7200 => "About an hour".to_owned(),
        7200..172_800 => format!("{} hours", s / 3600),
        172_800..1_209_600 => format!("{} days", s / 86_400),
        1_209_600..5_184_000 => format!("{} weeks", s / 604_800),
        5_184_000..63_072_000 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    };
    format!("{text} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00.5Z"), Some(1_709_208_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00+02:00"),
            Some(1_709_208_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn names_split_like_docker_images() {
        assert_eq!(
            split_name("docker.io/library/busybox:latest"),
            ("busybox".to_owned(), "latest".to_owned())
        );
        assert_eq!(
            split_name("localhost:5000/team/app:1.4"),
            ("localhost:5000/team/app".to_owned(), "1.4".to_owned())
        );
        let pinned = "docker.io/library/busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(split_name(pinned).0, "busybox");
        assert_eq!(split_name(pinned).1, "<none>");
        assert_eq!(ago(3 * 3600), "3 hours ago");
    }
}

//! Cuts a byte stream into lines. A line longer than the bound is cut (at a UTF-8 character
//! boundary where there is one) into pieces that each go out as a line of their own, so the
//! framer never holds more than the bound and a line is never torn across two writes.

pub struct LineFramer {
    /// The start of a line whose end has not arrived yet (at most `max` bytes).
    partial: Vec<u8>,
    max: usize,
}

/// Where to cut `bytes` (longer than `max`) so that the first piece is at most `max` bytes and,
/// when possible, does not end inside a UTF-8 character.
fn cut_at(bytes: &[u8], max: usize) -> usize {
    let mut cut = max;
    while cut > 0 && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    if cut == 0 {
        max
    } else {
        cut
    }
}

/// Emits `line`, in pieces of at most `max` bytes.
fn emit_bounded(mut line: &[u8], max: usize, emit: &mut impl FnMut(&[u8])) {
    while line.len() > max {
        let cut = cut_at(line, max);
        emit(&line[..cut]);
        line = &line[cut..];
    }
    emit(line);
}

impl LineFramer {
    pub fn new(max: usize) -> Self {
        LineFramer { partial: Vec::new(), max: max.max(4) }
    }

    /// Feeds bytes read; `emit` gets each complete line, without its `\n`.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                emit_bounded(&data[..nl], self.max, &mut emit);
            } else {
                self.partial.extend_from_slice(&data[..nl]);
                emit_bounded(&self.partial, self.max, &mut emit);
                self.partial.clear();
            }
            data = &data[nl + 1..];
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() > self.max {
            let cut = cut_at(&self.partial, self.max);
            emit(&self.partial[..cut]);
            self.partial.drain(..cut);
        }
    }

    /// The stream ended: what is left of a last line without `\n` goes out as a line.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        f.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn lines_across_reads_and_a_last_line_without_newline() {
        assert_eq!(run(100, &[b"ab", b"c\nd\n\ne", b"f"]), ["abc", "d", "", "ef"]);
    }

    #[test]
    fn a_line_over_the_bound_goes_out_in_pieces_of_at_most_the_bound() {
        assert_eq!(run(4, &[b"abcdefghij\nxy\n"]), ["abcd", "efgh", "ij", "xy"]);
        assert_eq!(run(4, &[b"abc", b"defgh", b"ij\n"]), ["abcd", "efgh", "ij"]);
        // Exactly the bound stays whole.
        assert_eq!(run(4, &[b"ab", b"cd", b"\n"]), ["abcd"]);
    }

    #[test]
    fn pieces_end_at_character_boundaries() {
        // "é" is two bytes: a cut at 5 would split the third one.
        let out = run(5, &["ééé\n".as_bytes()]);
        assert_eq!(out, ["éé", "é"]);
    }
}

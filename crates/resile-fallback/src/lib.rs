//! resile fallback (work in progress).

"""Rule governance: proposals, review (four eyes), immutable revisions, activation, audit."""

from tagger import schemes


def test_iob1_is_detected_and_converted():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"]
    assert schemes.is_iob1([iob1])
    assert schemes.iob1_to_iob2(iob1) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert not schemes.is_iob1([["B-PER", "I-PER", "O", "B-LOC"]])


def test_iob1_type_change_starts_new_entity():
    assert schemes.iob1_to_iob2(["I-PER", "I-LOC"]) == ["B-PER", "B-LOC"]


def test_detect_scheme():
    assert schemes.detect_scheme(["O", "B-PER", "I-PER"]) == schemes.IOB2
    assert schemes.detect_scheme(["O", "B-PER", "I-PER", "E-PER", "S-LOC"]) == schemes.IOBES
    assert schemes.detect_scheme(["NOUN", "VERB", "PUNCT"]) == schemes.TOKEN
    # CoNLL-2003 POS tags include "O"-free labels such as "NN|SYM"; not an entity scheme.
    assert schemes.detect_scheme(["NN", "B-NP"]) == schemes.TOKEN


def test_spans_iob2_and_iobes():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]
    assert schemes.spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 6)]
    assert schemes.spans(["S-LOC", "B-PER", "E-PER", "O"]) == [("LOC", 0, 1), ("PER", 1, 3)]
    assert schemes.spans(["O", "O"]) == []


def test_iobes_labels_add_single_and_end_tags():
    assert schemes.iobes_labels(["O", "B-PER", "I-PER"]) == ["O", "B-PER", "S-PER", "I-PER",
                                                             "E-PER"]


def test_iob2_to_iobes_and_back():
    iob2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG"]
    iobes = schemes.iob2_to_iobes(iob2)
    assert iobes == ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "S-ORG"]
    assert schemes.spans(iobes) == schemes.spans(iob2)
    assert [schemes.iobes_to_iob2(t) for t in iobes] == iob2

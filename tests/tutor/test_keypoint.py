import dataclasses

from tests.tutor.test_prompting import hit
from tutor.keypoint import LABEL, candidate_sentences, find_key_point
from tutor.retrieval import HashEmbedder


def test_candidates_skip_code_headings_and_fragments():
    text = ("## Heading line here that is long enough.\n"
            "The chain rule multiplies the outer derivative by the inner derivative.\n"
            "```python\nprint('this is code, not a sentence at all.')\n```\n"
            "- A list item that states a full fact about gradients.\n"
            "Too short.\n| a | table | row | with | many | cells |")
    got = [s for _, s in candidate_sentences([hit(1, text)])]
    assert got == ["The chain rule multiplies the outer derivative by the inner derivative.",
                   "A list item that states a full fact about gradients."]


def test_key_point_is_the_sentence_closest_to_the_question():
    hits = [hit(1, "Binary search halves a sorted array at every step until it finds the target."),
            hit(2, "Lists are mutable sequences in Python. The chain rule multiplies the outer derivative "
                   "by the derivative of the inner function.")]
    kp = find_key_point("what does the chain rule multiply", hits, HashEmbedder())
    assert kp.source_index == 2 and kp.text.startswith("The chain rule multiplies")
    md = kp.markdown()
    assert md.startswith(f"{LABEL} [2]:**") and md.endswith("\n\n")


def test_no_candidates_no_key_point():
    assert find_key_point("q", [hit(1, "```\ncode only\n```")], HashEmbedder()) is None


def test_fragments_and_flattened_lists_are_not_quoted():
    text = ("adds adaptive step sizes to each parameter of the model. "
            "Schedules matter - warmup helps - cosine decay finishes fine. "
            "Gradient descent moves the weights against the gradient of the loss.")
    got = [s for _, s in candidate_sentences([hit(1, text)])]
    assert got == ["Gradient descent moves the weights against the gradient of the loss."]


def test_section_heading_breaks_a_tie_towards_the_section_about_the_question():
    same = "This value is computed from the inputs in a single pass over the data."
    a = dataclasses.replace(hit(1, same).chunk, section="Sorting")
    b = dataclasses.replace(hit(2, same).chunk, section="Softmax function")
    hits = [dataclasses.replace(hit(1, same), chunk=a), dataclasses.replace(hit(2, same), chunk=b)]
    assert find_key_point("how is the softmax function computed", hits, HashEmbedder()).source_index == 2


def _under(i: int, text: str, section: str):
    h = hit(i, text)
    return dataclasses.replace(h, chunk=dataclasses.replace(h.chunk, section=section))


# Real knowledge-base chunks (knowledge_base/): a closing sentence that leans on the one before it, and a
# short section whose topic sentence holds a key fact.
INDEPENDENCE = ("Two events are independent when knowing that one occurred does not change the probability of "
                "the other. Mutually exclusive events with positive probability are never independent: if one "
                "happens, the other becomes impossible.")
REGRESSION = ("Supervised learning problems split into two families according to the type of label. Regression "
              "predicts a continuous number, such as a price, a temperature or a delivery time. Classification "
              "predicts a category, such as spam or not spam, or which digit appears in an image.")


def test_a_short_quote_about_the_question_takes_the_rest_of_its_section():
    kp = find_key_point("is independent the same as mutually exclusive?",
                        [_under(1, INDEPENDENCE, "Probability rules > Independence versus mutual exclusivity")],
                        HashEmbedder())
    assert kp.text == INDEPENDENCE  # the definition the answer leans on comes with it
    kp = find_key_point("what is the difference between regression and classification?",
                        [_under(1, REGRESSION, "What supervised learning is > Regression versus classification")],
                        HashEmbedder())
    assert kp.text == REGRESSION  # a section this short is quoted whole, topic sentence included


def test_a_chunk_under_another_heading_is_not_quoted_beyond_the_answer():
    kp = find_key_point("is independent the same as mutually exclusive?",
                        [_under(1, INDEPENDENCE, "Probability rules > Complement, union and intersection")],
                        HashEmbedder())
    assert kp is not None and kp.text != INDEPENDENCE

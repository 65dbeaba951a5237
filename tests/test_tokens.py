from qa.search.tokens import Tokenizer, stopwords


def test_question_words_are_not_tokens():
    tok = Tokenizer(["城管局", "区城管局"], {"城管局": "区城管局", "城管": "区城管局"})
    tokens = tok.tokens("城管局在垃圾分类上做什么？")
    assert "垃圾" in tokens and "分类" in tokens
    for word in ("什么", "做", "在", "上", "？"):
        assert word not in tokens
    assert "区城管局" in tokens  # alias folded to the department


def test_user_words_stay_whole():
    plain = Tokenizer()
    custom = Tokenizer(["墅企通"])
    assert "墅企通" not in plain.tokens("探索墅企通新路径")
    assert "墅企通" in custom.tokens("探索墅企通新路径")


def test_content_terms_drop_stopwords_and_departments():
    tok = Tokenizer(["区民政局", "民政局"], {"民政局": "区民政局", "区民政局": "区民政局"})
    assert tok.content_terms("民政局在养老方面有什么打算") == ["养老"]
    assert {"哪些", "什么", "怎么", "做了"} <= stopwords()

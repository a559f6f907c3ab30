"""Masking contact details in residents' free text: what departments and Open311 readers get."""

import pytest

from shared.masking import EMAIL, ID_CARD, PHONE, mask_contacts


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # mainland mobiles: no spaces around in Chinese text, groupings, prefixes, full width
        ("请联系我13800000000谢谢", f"请联系我{PHONE}谢谢"),
        ("请联系我 138-0000-0000", f"请联系我 {PHONE}"),
        ("电话：138 0000 0000。", f"电话：{PHONE}。"),
        ("手机１３８００００００００", f"手机{PHONE}"),
        ("打１３８－００００－００００找王阿姨", f"打{PHONE}找王阿姨"),
        ("+86 139 1234 5678", PHONE),
        ("8613912345678号楼下", f"{PHONE}号楼下"),
        ("tel:19912345678", f"tel:{PHONE}"),
        # landlines with an area code
        ("座机0833-2123456", f"座机{PHONE}"),
        ("（0833）2123456转物业", f"{PHONE}转物业"),
        ("(010) 6234 5678", PHONE),
        ("010-62345678", PHONE),
        # ID-card numbers, the last character X, grouped or not
        ("身份证51010219900101123X，请核实", f"身份证{ID_CARD}，请核实"),
        ("身份证 510102 19900101 123x", f"身份证 {ID_CARD}"),
        ("ID５１０１０２１９９００１０１１２３Ｘ", f"ID{ID_CARD}"),
        ("证件号510102199001011234", f"证件号{ID_CARD}"),
        # email addresses, also one that is a phone number
        ("邮箱abc.d@qq.com谢谢", f"邮箱{EMAIL}谢谢"),
        ("邮箱 13800000000@163.com", f"邮箱 {EMAIL}"),
        ("邮箱ａｂｃ＠ｑｑ．ｃｏｍ", f"邮箱{EMAIL}"),
        ("two: a@b.cn, 13800000000", f"two: {EMAIL}, {PHONE}"),
    ],
)
def test_contact_details_are_masked(text, masked):
    assert mask_contacts(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "红旗巷路灯不亮",
        "2026-11-30 下午3点，红旗巷62号3单元",
        "12345热线说三天内处理",
        "订单号 202611301380000000012",  # a longer number is not cut into a phone number
        "卡号6222021234567890123",
        "楼高 138 米",
        "",
    ],
)
def test_other_text_stays_as_written(text):
    assert mask_contacts(text) == text


def test_several_details_in_one_description():
    text = "王阿姨（13800001111，座机0833-2123456，身份证51010219900101123X，wang@example.cn）"
    assert mask_contacts(text) == f"王阿姨（{PHONE}，座机{PHONE}，身份证{ID_CARD}，{EMAIL}）"

"""The public pages' words in Chinese (the default) and English (joined into the console's
``WORDS`` by ``domain.i18n``; keys start with ``pub.``)."""

from __future__ import annotations

PUBLIC_WORDS: dict[str, tuple[str, str]] = {
    "pub.site": ("邻里 · 公开信息", "Linli · public information"),
    "pub.skip": ("跳到正文", "Skip to content"),
    "pub.nav": ("公开页面", "Public pages"),
    "pub.fund": ("基金公开", "The fund's account"),
    "pub.district": ("办理情况", "How the district is doing"),
    "pub.open311": ("开放接口", "Open311 for apps"),
    "pub.no-tracking": (
        "本站不使用跟踪、不加载第三方内容。",
        "This site tracks no one and loads nothing from other sites.",
    ),
    "pub.fund.intro": (
        "嘉州社区发展公益慈善基金的每一笔收入和支出都记入公开账本，数据来自基金账本，"
        "随账本事件更新。",
        "Every yuan in and out of the community charity fund is in its public books; these "
        "figures come from the ledger and follow its events.",
    ),
    "pub.as-of": ("数据更新于", "Figures as of"),
    "pub.goal": ("目标", "Goal"),
    "pub.raised": ("已筹", "Raised"),
    "pub.spent": ("已支出", "Spent"),
    "pub.balance": ("结余", "Balance"),
    "pub.of-goal": ("占目标", "of the goal"),
    "pub.of-raised": ("占已筹", "of what was raised"),
    "pub.period": ("募捐期", "Period"),
    "pub.donations": ("收支明细（最新）", "Entries (newest)"),
    "pub.date": ("日期", "Date"),
    "pub.kind": ("类别", "Kind"),
    "pub.detail": ("说明", "Detail"),
    "pub.amount": ("金额（元）", "Amount (yuan)"),
    "pub.donor": ("捐赠人", "Donor"),
    "pub.entry": ("账目编号", "Entry"),
    "pub.k.donation": ("捐赠", "donation"),
    "pub.k.disbursement": ("支出", "disbursement"),
    "pub.k.reversal": ("冲正", "reversal"),
    "pub.anonymous": ("匿名", "anonymous"),
    "pub.no-entries": ("暂无收支。", "No entries yet."),
    "pub.disbursements": ("支出与三方审批", "Disbursements and the parties' approvals"),
    "pub.project": ("项目", "Project"),
    "pub.purpose": ("用途", "Purpose"),
    "pub.status": ("状态", "Status"),
    "pub.approvals": ("审批", "Approvals"),
    "pub.approved-at": ("已批准", "approved"),
    "pub.waiting": ("待审批", "waiting"),
    "pub.no-disbursements": ("暂无支出申请。", "No disbursements yet."),
    "pub.st.requested": ("待审批", "requested"),
    "pub.st.approved": ("已批准", "approved"),
    "pub.st.posted": ("已支付", "paid"),
    "pub.st.rejected": ("已否决", "rejected"),
    "pub.st.voided": ("已撤回", "withdrawn"),
    "pub.st.refused": ("余额不足被拒", "refused (not enough money)"),
    "pub.party.party-branch": ("党组织", "Party branch"),
    "pub.party.owners-committee": ("业委会", "Owners' committee"),
    "pub.party.property-company": ("物业", "Property company"),
    "pub.disclosure": ("季度信息公开", "Quarterly disclosure"),
    "pub.download": ("下载 CSV", "Download CSV"),
    "pub.chain": ("账本哈希链", "The books' hash chain"),
    "pub.entries": ("条账目", "entries"),
    "pub.head": ("链头", "Chain head"),
    "pub.verified-ok": ("最近一次核验通过", "The last verification passed"),
    "pub.verified-broken": ("最近一次核验发现问题", "The last verification found a break"),
    "pub.never-verified": ("尚未核验", "Not verified yet"),
    "pub.verified-at": ("核验时间", "Verified at"),
    "pub.check-yourself": ("如何自己核对", "How to check it yourself"),
    "pub.check-1": (
        "每一笔账目都包含上一笔的哈希值，链头是最后一笔账目的 SHA-256 哈希；任何一笔被改动，"
        "之后的链头都会不同。",
        "Each entry carries the hash of the one before it; the chain head is the SHA-256 hash "
        "of the last entry, so changing any entry changes every head after it.",
    ),
    "pub.check-2": (
        "请记下或打印今天的链头和条数；以后再来对照：条数只增不减，旧账目的合计不变。",
        "Write down or print today's chain head and entry count; later, check that the count "
        "only grew and the totals of past quarters stayed the same.",
    ),
    "pub.check-3": (
        "下载季度 CSV，自己把各笔金额相加，应与上面的已筹、已支出相符。",
        "Download a quarter's CSV and add the amounts up yourself: they give the raised and "
        "spent figures above.",
    ),
    "pub.check-4": (
        "审计人员可用 linli ledger verify 核验全部哈希链，用 linli ledger export 导出 hledger "
        "账本独立核算。",
        "Auditors run linli ledger verify over every chain and linli ledger export to load the "
        "books into hledger and balance them independently.",
    ),
    "pub.unavailable": ("数据正在载入，请稍后再试。", "The figures are loading; try again soon."),
    "pub.district.intro": (
        "每月的响应率、解决率和满意率（按街道、按部门），以及各小区当前未办结的反映数量；"
        "不含任何居民的反映内容、照片或具体楼栋。",
        "Each month's response, resolution and satisfaction rates by street and by department, "
        "and the open reports per compound now; no resident's words, photo or building.",
    ),
    "pub.months": ("月份", "Months"),
    "pub.by-street": ("按街道", "By street"),
    "pub.by-department": ("按部门", "By department"),
    "pub.no-rates": ("本月暂无数据。", "No figures for this month yet."),
    "pub.open-now": ("当前未办结的反映", "Reports open now"),
    "pub.open-total": ("共", "In all"),
    "pub.compound": ("小区", "Compound"),
    "pub.open": ("未办结", "Open"),
    "pub.legend": (
        "颜色：灰 0，浅黄 1–2，橙 3–5，红 6 及以上。",
        "Colours: grey 0, light yellow 1–2, orange 3–5, red 6 or more.",
    ),
    "pub.none-open": ("目前没有未办结的反映。", "No report is open now."),
    "pub.open311.intro": (
        "第三方应用可以通过 Open311 GeoReport v2 标准接口提交和查询问题反映。",
        "Apps can file and follow reports through the standard Open311 GeoReport v2 API.",
    ),
    "pub.endpoint": ("接口地址", "The endpoint"),
    "pub.base-url": ("基础地址", "Base URL"),
    "pub.discovery": ("服务发现", "Discovery"),
    "pub.services-list": ("问题类别", "Service list"),
    "pub.post-request": ("提交反映", "File a request"),
    "pub.formats": ("格式", "Formats"),
    "pub.spec": ("规范", "Specification"),
    "pub.get-key": ("如何获取 API 密钥", "How an app gets a key"),
    "pub.key-1": (
        "应用开发者向区指挥中心提出申请，说明应用名称和用途。",
        "The app's maker asks the district command centre, naming the app and what it is for.",
    ),
    "pub.key-2": ("运维人员为该应用签发密钥：", "An operator issues the app's key with"),
    "pub.key-3": (
        "密钥只显示一次，平台只保存其哈希；提交反映时作为参数发送：",
        "The key is shown once and only its hash is kept; send it with each request as",
    ),
    "pub.key-4": ("每个密钥每秒最多请求数：", "Requests per second per key, at most:"),
    "pub.key-read": (
        "查询类别和反映不需要密钥；提交反映需要。",
        "Reading the service list and requests needs no key; filing a request does.",
    ),
    "pub.notices": ("打印张贴", "Printable notices"),
    "pub.notices.intro": (
        "选择小区，打印该小区及每栋楼的报事二维码，张贴在公告栏。",
        "Choose a compound to print the QR codes for reporting at it and at each of its "
        "buildings, for the notice board.",
    ),
    "pub.qr-title": ("扫码反映问题", "Scan to report a problem"),
    "pub.qr-how": (
        "用手机扫描二维码，即可反映问题，地点已自动填好。",
        "Scan the code with a phone to report a problem here; the place is filled in.",
    ),
    "pub.print-hint": (
        "用浏览器的“打印”即可打印本页。",
        "Use the browser's Print to print this page.",
    ),
    "pub.urgent-notice": ("紧急通知", "Urgent notice"),
    "pub.area": ("范围", "Area"),
}

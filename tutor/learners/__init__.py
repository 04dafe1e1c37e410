"""Per-learner records (quizzes, answers, plans, FSRS review cards) in SQLite; see store.py."""
from tutor.learners.store import (
    AccuracyBucket,
    AnswerOutcome,
    AnswerRecord,
    LearnerDay,
    LearnerStore,
    LearnerStoreError,
    MissedItem,
    PlanSummary,
    ProgressSummary,
    QuizRecord,
    ReviewCard,
    SubjectPopularity,
    TopicMastery,
)

__all__ = [
    "AccuracyBucket", "AnswerOutcome", "AnswerRecord", "LearnerDay", "LearnerStore", "LearnerStoreError",
    "MissedItem", "PlanSummary", "ProgressSummary", "QuizRecord", "ReviewCard", "SubjectPopularity", "TopicMastery",
]
